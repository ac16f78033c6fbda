"""The embedded store: run history, state events, processes, blocks and the notification outbox.

Zero configuration: runs are recorded in ``$FLOWHOOK_HOME/flowhook.db`` (SQLite, WAL mode;
``FLOWHOOK_HOME`` defaults to ``~/.flowhook``), and ``FLOWHOOK_STORE=off`` turns recording off.
The engine knows the store only as a transition observer that attaches itself when the first
run starts (:func:`attach`); everything else talks to the :class:`Store` interface, which the
SQLite store implements and a PostgreSQL store could implement later.

- :mod:`.sqlite`: the schema, its migrations and every SQL statement.
- :mod:`.writer`: the background thread that writes task transitions in batches.
- :mod:`.recorder`: the engine observer, heartbeats, and cancel requests from other processes.
- :mod:`.reaper`: crash detection for runs whose process died.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from flowhook_hookspec.states import State

from .records import (
    CancelRequest,
    EventRecord,
    HookErrorRecord,
    OutboxEntry,
    OutboxRecord,
    ProcessInfo,
    ProcessRecord,
    PruneReport,
    RunKindName,
    RunQuery,
    RunRecord,
    Write,
)
from .settings import StoreSettings, load_settings
from .sqlite import SCHEMA_VERSION, SQLiteStore, StoreError

__all__ = [
    "SCHEMA_VERSION",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoreSettings",
    "attach",
    "detach",
    "load_settings",
    "open_store",
    "reap",
]


class Store(Protocol):
    """What flowhook needs from a store. All times are seconds since the epoch."""

    #: Where the data lives, for messages (a file path, a URL without its password).
    location: str

    def close(self) -> None: ...

    # processes and crash detection
    def register_process(self, process: ProcessInfo) -> int: ...
    def heartbeat(self, process_id: int, at: float) -> None: ...
    def process(self, process_id: int) -> ProcessRecord | None: ...
    def unfinished_processes(self) -> list[ProcessRecord]: ...
    def crash_runs(self, process_id: int, state: State) -> list[tuple[RunKindName, str]]: ...

    # recording (the background writer)
    def write(self, batch: Iterable[Write]) -> None: ...

    # cancel requests from other processes
    def request_cancel(self, flow_run_id: str, message: str | None, at: float) -> bool: ...
    def cancel_requests(self, process_id: int) -> list[CancelRequest]: ...
    def mark_cancel_delivered(self, flow_run_id: str, at: float) -> None: ...

    # history
    def get_run(self, kind: RunKindName, run_id: str) -> RunRecord | None: ...
    def find_runs(self, prefix: str, limit: int = 10) -> list[RunRecord]: ...
    def list_flow_runs(self, query: RunQuery) -> list[RunRecord]: ...
    def task_runs(self, flow_run_id: str) -> list[RunRecord]: ...
    def subflow_runs(self, flow_run_id: str) -> list[RunRecord]: ...
    def events(self, run_id: str, history_id: str) -> list[EventRecord]: ...
    def history(self, history_id: str) -> list[EventRecord]: ...
    def hook_errors(self, history_id: str) -> list[HookErrorRecord]: ...
    def prune(self, before: float) -> PruneReport: ...

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
    def outbox_claimants(self) -> list[int]: ...
    def release_outbox_claims(self, worker_prefix: str) -> int: ...
    def mark_outbox_sent(self, message_id: int, at: float) -> None: ...
    def mark_outbox_retry(
        self, message_id: int, attempts: int, next_attempt: float, error: str
    ) -> None: ...
    def mark_outbox_dead(self, message_id: int, attempts: int, error: str) -> None: ...
    def next_outbox_attempt(self) -> float | None: ...
    def pending_outbox_due(self, now: float) -> int: ...
    def pending_outbox_count(self) -> int: ...
    def list_outbox(self, status: str | None = None, limit: int = 200) -> list[OutboxRecord]: ...
    def retry_outbox(self, message_ids: Sequence[int] | None) -> list[int]: ...


def open_store(settings: StoreSettings | None = None, *, create: bool = True) -> Store:
    """The store the settings point at. ``create=False`` refuses to create a new database.

    Raises :class:`StoreError` when it cannot be used and
    :class:`~flowhook_hookspec.errors.ConfigError` when it was written by a newer flowhook.
    """
    settings = settings or load_settings()
    return SQLiteStore(settings.database, lock_timeout=settings.lock_timeout_seconds, create=create)


# The public functions of the modules built on the interface above.
from .reaper import reap  # noqa: E402
from .recorder import attach, detach  # noqa: E402
