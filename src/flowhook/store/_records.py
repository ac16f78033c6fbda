"""What goes into the store and what comes out of it: plain attrs value classes.

Writes (:class:`NewRun`, :class:`Transition`, :class:`HookError`, :class:`RunLog`, :class:`Beat`)
are made by the recorder in the thread that moves a run, and applied in batches by the background writer; they
are named tuples, because one is made on every transition of every run.
Records (:class:`ProcessRecord`, :class:`RunRecord`, :class:`EventRecord`, ...) are what the
store returns to the reaper and the command line. Times are seconds since the epoch (floats);
event timestamps keep the ISO 8601 text the contract's converter writes.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal, NamedTuple
from uuid import UUID

import attrs

from flowhook_hookspec.states import FINAL_TYPES, State, StateType

__all__ = [
    "BatchKey",
    "Beat",
    "CancelRequest",
    "CrashHook",
    "EventRecord",
    "HookError",
    "HookErrorRecord",
    "LogRecord",
    "NewRun",
    "OutboxEntry",
    "OutboxRecord",
    "ProcessExit",
    "ProcessInfo",
    "ProcessRecord",
    "PruneReport",
    "RunKindName",
    "RunLog",
    "RunQuery",
    "RunRecord",
    "StateCount",
    "Transition",
    "Write",
]

RunKindName = Literal["flow", "task"]


# -- writes -----------------------------------------------------------------------------------


class NewRun(NamedTuple):
    """A run was created (it entered Pending): its row, written once."""

    kind: RunKindName
    id: UUID
    name: str
    owner_name: str
    #: ``module:qualname`` of the flow's or task's function, to find its hooks after a crash.
    import_path: str | None
    created: float
    process_id: int | None
    #: Task runs: the flow run they belong to. Flow runs: None.
    flow_run_id: UUID | None = None
    parent_flow_run_id: UUID | None = None
    parent_task_run_id: UUID | None = None
    tags: str = "[]"
    #: JSON object of the parameters (flow runs only), or None.
    parameters: str | None = None


class Transition(NamedTuple):
    """A run entered ``state``: an event to append, and the run row's new current state.

    ``state`` is the engine's immutable State; the writer turns it into the columns named after
    the fields of the contract's converter (never the result value). ``traceback`` is formatted
    in the run's thread, while the exception's traceback is still the one the run raised.
    ``history_id`` is the run whose history the event belongs to: the flow run (for a flow run
    and its task runs) or the task run itself (for a task run outside any flow).
    """

    kind: RunKindName
    run_id: UUID
    history_id: UUID
    state: State
    run_count: int
    start_time: datetime | None
    end_time: datetime | None
    traceback: str | None = None


class HookError(NamedTuple):
    """A state hook of a run raised (logged on ``flowhook.hooks``)."""

    kind: RunKindName
    run_id: UUID
    history_id: UUID
    timestamp: float
    description: str
    traceback: str | None


class RunLog(NamedTuple):
    """A log record of a run (see :mod:`flowhook._runtime.run_logs`), in the columns of the
    ``run_logs`` table: one is made for every record a run logs, so it is a plain tuple."""

    #: The flow run the record belongs to (a task run's flow run); None for a task run called
    #: outside any flow.
    flow_run_id: str | None
    task_run_id: str | None
    level: int
    time: float
    message: str
    logger: str


class Beat(NamedTuple):
    """The process is alive (every batch carries one)."""

    process_id: int
    at: float


class BatchKey(NamedTuple):
    """This batch is the ``number``-th of the process's writer (numbers only grow): a store
    applies a process's batch at most once, so that one replayed after a lost ``COMMIT`` (the
    connection died after the server committed it, before the client heard) writes nothing
    twice. A batch replayed must hold only writes of the batch first sent with its key."""

    process_id: int
    number: int


class ProcessExit(NamedTuple):
    """The process is shutting down normally: written with its last batch."""

    process_id: int
    at: float


class OutboxEntry(NamedTuple):
    """A rendered notification to deliver, written in the same transaction as its state event.

    ``key`` identifies the (event, rule, block): the same event never enqueues twice.
    ``flow_run_id`` is the flow run whose page lists it: the run's own for a flow run's
    message, its flow run's for a task run's (None outside any flow).
    """

    key: str
    block_type: str
    block_name: str
    rule: str
    run_kind: RunKindName
    run_id: str
    event: str
    subject: str
    body: str
    created: float
    flow_run_id: str | None = None


Write = NewRun | Transition | HookError | RunLog | Beat | BatchKey | ProcessExit | OutboxEntry


# -- records ----------------------------------------------------------------------------------


class CrashHook(NamedTuple):
    """A crashed run whose hooks are still to be fired, and the reaper firing them."""

    run_id: str
    run_kind: RunKindName
    process_id: int | None
    claimed_by: str


@attrs.frozen
class OutboxRecord:
    """One message of the notification outbox."""

    id: int
    block_type: str
    block_name: str
    status: str
    attempts: int
    next_attempt: float
    last_error: str | None
    subject: str | None
    body: str
    run_kind: str | None
    run_id: str | None
    event: str | None
    rule: str | None
    created: float
    delivered: float | None
    #: The idempotency key the message was enqueued with (its event, rule and block).
    key: str | None = None

    @property
    def block(self) -> str:
        return f"{self.block_type}/{self.block_name}"


@attrs.frozen
class ProcessInfo:
    """A process that runs flows, as it registers itself."""

    pid: int
    host: str
    #: Identifies this process among all that had this pid (boot id and start ticks on Linux).
    start_token: str | None
    started: float
    command: str
    flowhook_version: str


@attrs.frozen
class ProcessRecord:
    id: int
    pid: int
    host: str
    start_token: str | None
    started: float
    last_heartbeat: float
    command: str | None
    #: When it shut down normally (its atexit handlers ran); None while it runs or if it died.
    exited: float | None = None


@attrs.frozen
class RunRecord:
    """One flow run or task run, with its current state."""

    kind: RunKindName
    id: str
    name: str
    owner_name: str
    import_path: str | None
    state_type: str
    state_name: str
    state_message: str | None
    run_count: int
    created: float
    start_time: float | None
    end_time: float | None
    process_id: int | None
    flow_run_id: str | None = None
    parent_flow_run_id: str | None = None
    parent_task_run_id: str | None = None
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] | None = None
    cancel_requested: float | None = None

    @property
    def is_final(self) -> bool:
        return StateType(self.state_type) in FINAL_TYPES

    @property
    def duration_seconds(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return max(0.0, self.end_time - self.start_time)


@attrs.frozen
class EventRecord:
    """One state a run entered, in the order it entered them."""

    seq: int
    run_id: str
    #: The state as the contract's converter writes it (type, name, message, timestamp, ...).
    state: dict[str, Any]
    traceback: str | None = None

    @property
    def name(self) -> str:
        return str(self.state["name"])

    @property
    def type(self) -> str:
        return str(self.state["type"])

    @property
    def timestamp(self) -> datetime:
        return datetime.fromisoformat(self.state["timestamp"])


@attrs.frozen
class HookErrorRecord:
    run_id: str
    kind: RunKindName
    timestamp: float
    description: str
    traceback: str | None


@attrs.frozen
class LogRecord:
    """One log record of a run, as the store keeps it (see ``Store.run_logs``)."""

    #: Increasing in the order the store wrote the records (per store, not per run).
    id: int
    #: The flow run the record belongs to; None for a task run called outside any flow.
    flow_run_id: str | None
    #: The task run that logged it; None for a flow run's own records.
    task_run_id: str | None
    #: The :mod:`logging` level number (20 for INFO).
    level: int
    #: When it was logged, in seconds since the epoch.
    time: float
    #: The formatted message, with the exception's traceback when one was logged.
    message: str
    #: The name of the logger (``flowhook.flow_runs``, ``flowhook.task_runs``).
    logger: str

    @property
    def level_name(self) -> str:
        """``INFO``, ``WARNING``, ...; ``Level 25`` for a level without a name."""
        return logging.getLevelName(self.level)


@attrs.frozen
class CancelRequest:
    flow_run_id: str
    message: str | None


@attrs.frozen
class RunQuery:
    """Which flow runs ``flowhook runs ls`` and the web UI list, newest first (by creation
    time, then id)."""

    flow_name: str | None = None
    #: A state type or name, any case (``failed``, ``Crashed``, ``AwaitingRetry``).
    state: str | None = None
    #: Created at or after this time.
    since: float | None = None
    limit: int = 50
    #: Created before this time.
    until: float | None = None
    #: Keyset paging: only runs that come after this (created, id) in the listing's order,
    #: i.e. the ``(run.created, run.id)`` of the last run of the previous page.
    before: tuple[float, str] | None = None


@attrs.frozen
class StateCount:
    """How many top-level runs created in one time slice are in one state type."""

    #: The slice's index, from 0 (the oldest) to the number of slices less one.
    bucket: int
    state_type: str
    count: int


@attrs.frozen
class PruneReport:
    """What ``Store.prune`` deleted (or, in a dry run, would delete)."""

    flow_runs: int
    task_runs: int
    events: int
    processes: int
    #: Outbox messages sent before the cutoff.
    sent_messages: int = 0
    #: Log records of the runs deleted.
    logs: int = 0
