"""What goes into the store, and the records of its run list: plain value classes.

The recorder makes the writes in the thread that moves a run; the background writer applies
them in batches. The two made on every transition go as plain records (:func:`transition_record`,
:func:`new_run_record`); the store takes either form. The records of a run's detail, of
processes, of the outbox and of pruning are in :mod:`._details`, which ``flowhook runs ls``
never loads. Times are seconds since the epoch (floats).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NamedTuple
from uuid import UUID

import attrs

from flowhook_hookspec.states import FINAL_TYPES, State, StateType

__all__ = [
    "COMPLETED_RUN_FIELDS",
    "COMPLETED_RUN_STATES",
    "BatchKey",
    "Beat",
    "CrashHook",
    "HookError",
    "NewRun",
    "OutboxEntry",
    "PlainRecord",
    "ProcessExit",
    "RunKindName",
    "RunLog",
    "RunQuery",
    "RunRecord",
    "Transition",
    "Write",
    "completed_run_record",
    "id_text",
    "new_run_record",
    "plain_record",
    "state_columns",
    "transition_record",
]

RunKindName = Literal["flow", "task"]


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
    ``run_logs`` table, as :class:`LogRecord` reads them back without its id: one is made for
    every record a run logs, so it is a plain tuple."""

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


#: A :class:`NewRun` or a :class:`Transition` as plain values (see :func:`transition_record`).
PlainRecord = tuple[Any, ...]
Write = (
    NewRun
    | Transition
    | HookError
    | RunLog
    | Beat
    | BatchKey
    | ProcessExit
    | OutboxEntry
    | PlainRecord
)

_COMPLETED = StateType.COMPLETED

# The writes of every transition, as plain values. A record that holds only text, numbers and
# None (and tuples of those) is an exact tuple the garbage collector stops tracking at its first
# collection; a named tuple, a State, a UUID or a datetime stays tracked. The writer's queue
# holds thousands of writes for its linger, which the collector would otherwise traverse again
# and again. The writer process gets the records as they are (``marshal``). Ids are the UUID's
# integer (a run's key in its batch; its text is made by the writer), times are seconds.

#: A transition's record (:func:`transition_record`): ``(kind, run_id, history_id, type, name,
#: message, timestamp, scheduled_time, exception_type, exception_message, traceback,
#: run_count, start_time, end_time)``, the state's columns as :func:`state_columns` gives them
#: with its type's value.
TRANSITION_FIELDS = 14
#: A new run's record (:func:`new_run_record`): :class:`NewRun`'s fields, its ids as integers.
NEW_RUN_FIELDS = 12
#: A completed task run's record (:func:`completed_run_record`): its new run's record, then its
#: run count, start time and end time.
COMPLETED_RUN_FIELDS = 15
#: The states a completed run's record stands for, by name: each entered at the run's creation,
#: start and end time respectively, with nothing else (no message, scheduled time or exception).
COMPLETED_RUN_STATES = ("Pending", "Running", "Completed")


def transition_record(
    kind: RunKindName,
    run_id: UUID,
    history_id: UUID,
    state: State,
    run_count: int,
    start_time: datetime | None,
    end_time: datetime | None,
    tb: str | None,
) -> PlainRecord:
    """A :class:`Transition` (these are its fields) as a plain record; made for every transition,
    in the run's thread. A start or end time that is the state's own is converted once."""
    stamp = state.timestamp
    seconds = stamp.timestamp()
    start = (
        None if start_time is None else seconds if start_time is stamp else start_time.timestamp()
    )
    end = None if end_time is None else seconds if end_time is stamp else end_time.timestamp()
    if state.scheduled_time is None and (state.data is None or state.type is _COMPLETED):
        type_, name, message = state.type._value_, state.name, state.message
        return (
            kind, run_id.int, history_id.int, type_, name, message, seconds, None, None, None, tb,
            run_count, start, end,
        )  # fmt: skip
    columns = state_columns(state, tb)[1:]
    return (kind, run_id.int, history_id.int, state.type._value_, *columns, run_count, start, end)


def new_run_record(
    kind: RunKindName,
    run_id: UUID,
    name: str,
    owner_name: str,
    import_path: str | None,
    created: float,
    process_id: int | None,
    flow_run_id: UUID | None = None,
    parent_flow_run_id: UUID | None = None,
    parent_task_run_id: UUID | None = None,
    tags: str = "[]",
    parameters: str | None = None,
) -> PlainRecord:
    """A :class:`NewRun` (these are its fields) as a plain record: its ids as integers; made
    for every run, in the run's thread."""
    return (
        kind, run_id.int, name, owner_name, import_path, created, process_id,
        None if flow_run_id is None else flow_run_id.int,
        None if parent_flow_run_id is None else parent_flow_run_id.int,
        None if parent_task_run_id is None else parent_task_run_id.int,
        tags, parameters,
    )  # fmt: skip


def completed_run_record(new_run: PlainRecord, start_time: float, end_time: float) -> PlainRecord:
    """One record for the three transitions of a task run of a flow that went Pending, Running,
    Completed in one attempt (:data:`COMPLETED_RUN_STATES`), each state plain (no message,
    scheduled time or exception) and entered at the run's creation (``new_run``'s, a
    :func:`new_run_record`), ``start_time`` and ``end_time``: that new run's record, then the
    run's count (1), start and end. The recorder makes it, instead of four records, for a run
    that ends before the writer takes its first states."""
    return (*new_run, 1, start_time, end_time)


def plain_record(write: NewRun | Transition) -> PlainRecord:
    """A :class:`NewRun` or a :class:`Transition` as the recorder makes it (plain values)."""
    if isinstance(write, Transition):
        return transition_record(*write)
    return new_run_record(*write)


def id_text(number: int) -> str:
    """The text of a run's id from its integer, as ``str(UUID(int=number))``."""
    h = number.to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def state_columns(state: State, tb: str | None) -> tuple[Any, ...]:
    """One state as the event columns from ``type`` to ``traceback``.

    The columns are the fields of the contract converter's form of a state (the test suite
    checks that they agree), read directly, with times as seconds since the epoch. A Completed
    state's data is its result and is never written. ``state.type`` is a ``str`` enum: SQLite
    and JSON store its value.
    """
    exc, scheduled = state.data, state.scheduled_time
    info = None
    if isinstance(exc, BaseException) and (scheduled is not None or state.type is not _COMPLETED):
        from flowhook_hookspec.serde import exception_to_dict  # cattrs: only for a failure

        info = exception_to_dict(exc)
    return (
        state.type,
        state.name,
        state.message,
        state.timestamp.timestamp(),
        None if scheduled is None else scheduled.timestamp(),
        None if info is None else info["type"],
        None if info is None else info["message"],
        tb,
    )


class CrashHook(NamedTuple):
    """A crashed run whose hooks are still to be fired, and the reaper firing them."""

    run_id: str
    run_kind: RunKindName
    process_id: int | None
    claimed_by: str


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
