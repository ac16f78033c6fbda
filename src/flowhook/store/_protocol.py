"""The ``Store`` interface: what flowhook needs from a store, whichever database is behind it."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from flowhook_hookspec.states import State

from ._records import CrashHook, OutboxEntry, RunKindName, RunQuery, RunRecord, Write

if TYPE_CHECKING:
    from ._details import (
        CancelRequest,
        EventRecord,
        HookErrorRecord,
        LogRecord,
        OutboxRecord,
        ProcessInfo,
        ProcessRecord,
        PruneReport,
        StateCount,
    )

__all__ = ["Alerts", "RunRef", "Store"]

#: The messages to queue for the runs a reaper crashes, by run id (``Store.crash_runs``).
Alerts = Mapping[str, Sequence[OutboxEntry]] | None
#: A run, named by its kind and id.
RunRef = tuple[RunKindName, str]


class Store(Protocol):
    """What flowhook needs from a store. All times are seconds since the epoch."""

    #: Where the data lives, for messages (a file path, a URL without its password).
    location: str
    #: How long a write waits while others hold the database, in seconds (settable).
    lock_timeout: float

    def close(self) -> None: ...
    def unavailable(self, error: Exception) -> bool:
        """Whether ``error`` (raised by a write) says that the store cannot be written now
        (locked, full, gone): the writes are then kept and tried again. False when it refused
        the data itself."""

    # processes and crash detection
    def register_process(self, process: ProcessInfo) -> int: ...
    def clock(self) -> float:
        """Now, as liveness and leases are judged: the database server's clock where hosts
        share the database (PostgreSQL), else this host's."""

    def heartbeat(self, process_id: int, at: float) -> None:
        """Record that ``process_id`` is alive at ``at`` (this host's time), or at the server's
        time where hosts share the database (see :meth:`clock`)."""

    def process(self, process_id: int) -> ProcessRecord | None: ...
    def unfinished_processes(self) -> list[ProcessRecord]: ...
    def record_exit(self, process_id: int, at: float) -> None: ...
    def unfinished_runs(self, process_id: int) -> list[RunRecord]: ...
    def crash_runs(
        self, process_id: int, state: State, *, alerts: Alerts = None, hooks_by: str | None = None
    ) -> list[RunRef]:
        """Move every unfinished run of a dead process to ``state``; returns those this call
        moved, task runs first, then flow runs, newest first (subflows before their parents).

        Each run is moved only while it is still unfinished, in one write transaction: of two
        reapers crashing the same run, one moves it (and writes its Crashed event) and the other
        skips it. In the same transaction, for each run it moved, the messages ``alerts`` holds
        for its id are queued, and, with ``hooks_by`` (the reaper's claimant id), a
        :class:`CrashHook` records that its hooks are still to be fired.
        """

    # crashed runs whose hooks are still to be fired (at least once, by whichever reaper)
    def crash_hooks(self) -> list[CrashHook]: ...
    def claim_crash_hook(self, run_id: str, claimed_by: str, worker: str) -> bool: ...
    def crash_hook_fired(self, run_id: str) -> None: ...

    # recording (the background writer)
    def write(self, batch: Iterable[Write]) -> None: ...

    # cancel requests from other processes
    def request_cancel(self, flow_run_id: str, message: str | None, at: float) -> bool: ...
    def cancel_requests(self, process_id: int) -> list[CancelRequest]: ...
    def mark_cancel_delivered(self, flow_run_id: str, at: float) -> None: ...

    # resume requests from other processes (for flow runs that paused themselves)
    def request_resume(self, flow_run_id: str) -> bool: ...
    def resume_requests(self, process_id: int) -> list[str]: ...

    # history
    def get_run(self, kind: RunKindName, run_id: str) -> RunRecord | None: ...
    def find_runs(self, prefix: str, limit: int = 10) -> list[RunRecord]: ...
    def list_flow_runs(self, query: RunQuery) -> list[RunRecord]: ...
    def state_counts(
        self, since: float, until: float, buckets: int, *, flow_name: str | None = None
    ) -> list[StateCount]:
        """How many top-level runs were created in each of ``buckets`` equal slices of
        [since, until), by state type (slices without runs are left out)."""

    def task_state_counts(self, flow_run_id: str) -> dict[str, int]: ...
    def task_run_page(
        self,
        flow_run_id: str,
        *,
        state_types: Sequence[str] = (),
        after: tuple[float, str] | None = None,
        before: tuple[float, str] | None = None,
        limit: int = 100,
    ) -> list[RunRecord]: ...
    def run_events(
        self, run_ids: Sequence[str], history_id: str
    ) -> dict[str, list[EventRecord]]: ...
    def subflow_run_page(self, flow_run_id: str, limit: int) -> tuple[list[RunRecord], int]:
        """The first ``limit`` subflow runs of ``flow_run_id`` by creation, and how many
        there are (read from an index)."""

    def run_hook_errors(
        self, run_id: str, *, with_task_runs: bool, limit: int
    ) -> tuple[list[HookErrorRecord], int]:
        """The newest ``limit`` hook errors of ``run_id`` (with its task runs' for a flow
        run, ``with_task_runs``), newest first, and how many there are."""

    def events(self, run_id: str, history_id: str) -> list[EventRecord]: ...
    def run_logs(
        self, run_id: str, *, after_id: int = 0, min_level: int = 0, limit: int = 1000
    ) -> list[LogRecord]:
        """The log records of the flow run ``run_id`` with its task runs', or of the task run
        ``run_id`` only, in id order: those with ``id > after_id`` and ``level >= min_level``,
        at most ``limit``. Read from an index, never a scan."""

    def prune(
        self, before: float, *, dry_run: bool = False, crash_after_seconds: float = 60.0
    ) -> PruneReport:
        """Delete the finished runs that ended before ``before``, their events, hook errors and
        log records, the outbox messages sent before it, and the rows of processes that own no
        run and are dead (``crash_after_seconds``: silence after which one on another host is);
        in one transaction. ``dry_run`` counts the same rows and deletes nothing (the report is
        the one the real prune would give).

        A run that is not final is never deleted, however old; nor is the row of a process that
        may be alive, even without runs: its next run would be found by no reaper.
        """

    # blocks (named notifier configurations)
    def save_block(
        self, block_type: str, name: str, data: dict[str, Any], *, overwrite: bool = False
    ) -> bool: ...
    def load_block(self, block_type: str, name: str) -> dict[str, Any] | None: ...
    def list_blocks(self) -> list[tuple[str, str]]: ...
    def delete_block(self, block_type: str, name: str) -> bool: ...

    # the notification outbox
    def enqueue_outbox(self, entries: Iterable[OutboxEntry]) -> None: ...
    def claim_outbox(
        self, worker: str, now: float, limit: int, lease_seconds: float
    ) -> list[OutboxRecord]: ...
    def outbox_claimants(self) -> list[str]: ...
    def renew_outbox_claim(self, message_id: int, worker: str, lease_seconds: float) -> bool: ...
    def unclaim_outbox(self, message_ids: Sequence[int], worker: str) -> int: ...
    def release_outbox_claims(self, worker_prefix: str) -> int: ...
    def mark_outbox_sent(self, message_ids: Sequence[int], at: float) -> None: ...
    def mark_outbox_retry(
        self, message_id: int, attempts: int, next_attempt: float, error: str
    ) -> None: ...
    def mark_outbox_dead(self, message_id: int, attempts: int, error: str) -> None: ...
    def next_outbox_attempt(self, blocks: Collection[str] | None = None) -> float | None: ...
    def pending_outbox_count(self, blocks: Collection[str] | None = None) -> int: ...
    def list_outbox(
        self, status: str | None = None, limit: int = 200, *, flow_run_id: str | None = None
    ) -> list[OutboxRecord]: ...
    def run_notifications(self, flow_run_id: str, limit: int) -> tuple[list[OutboxRecord], int]:
        """The newest ``limit`` messages of a flow run and its task runs, newest first, and
        how many there are (read from an index)."""

    def retry_outbox(self, message_ids: Sequence[int] | None) -> list[int]: ...
