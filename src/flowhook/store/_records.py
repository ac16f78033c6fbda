"""What goes into the store, and the records of its run list: plain value classes.

Writes (:class:`NewRun`, :class:`Transition`, :class:`HookError`, :class:`RunLog`, :class:`Beat`)
are made by the recorder in the thread that moves a run, and applied in batches by the background
writer; they are named tuples, because one is made on every transition of every run.
:class:`RunRecord` is what the store returns for a run, :class:`RunQuery` which runs a list
holds. The records of a run's detail, of processes, of the outbox and of pruning are in
:mod:`._details`: ``flowhook runs ls`` never builds their classes. Times are seconds since the
epoch (floats).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NamedTuple
from uuid import UUID

import attrs

from flowhook_hookspec.states import FINAL_TYPES, State, StateType

__all__ = [
    "BatchKey",
    "Beat",
    "CrashHook",
    "HookError",
    "NewRun",
    "OutboxEntry",
    "ProcessExit",
    "RunKindName",
    "RunLog",
    "RunQuery",
    "RunRecord",
    "Transition",
    "Write",
    "state_columns",
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

    In the writer process (:mod:`flowhook._runtime.writer_wire`) the ids are text, ``state`` is
    already the event's columns (:func:`~._sql.rows.state_columns`) and the times are seconds.
    """

    kind: RunKindName
    run_id: UUID | str
    history_id: UUID | str
    state: State | tuple[Any, ...]
    run_count: int
    start_time: datetime | float | None
    end_time: datetime | float | None
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

_COMPLETED = StateType.COMPLETED


def state_columns(state: State | tuple[Any, ...], tb: str | None) -> tuple[Any, ...]:
    """One state as the event columns from ``type`` to ``traceback`` (from the writer process:
    already those columns).

    The columns are the fields of the contract converter's form of a state (the test suite
    checks that they agree), with times as seconds since the epoch; they are read here directly
    because this runs for every transition of every run. A Completed state's data is its result
    and is never written. ``state.type`` is a ``str`` enum: SQLite and JSON store its value.
    """
    if isinstance(state, tuple):
        return state
    exc, scheduled = state.data, state.scheduled_time
    if scheduled is None and (exc is None or state.type is _COMPLETED):
        return (
            state.type,
            state.name,
            state.message,
            state.timestamp.timestamp(),
            None,
            None,
            None,
            tb,
        )
    info = None
    if isinstance(exc, BaseException):
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


# -- records ----------------------------------------------------------------------------------


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
