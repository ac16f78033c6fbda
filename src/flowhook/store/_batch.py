"""A batch of writes sorted into the rows each table gets: the same for every database.

The background writer hands the store a batch of transitions, new runs, hook errors, run logs,
outbox entries, heartbeats and a clean exit; :func:`prepare_batch` turns it into insert rows,
update rows and event rows (see :mod:`._sql.rows` for their columns), which the store then
applies in one transaction. A batch with a :class:`BatchKey` is applied once:
:func:`claim_batch` is the first statement of its transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from ._records import (
    BatchKey,
    Beat,
    HookError,
    NewRun,
    OutboxEntry,
    ProcessExit,
    RunLog,
    Transition,
    Write,
)
from ._sql import Executor
from ._sql.dialect import Dialect
from ._sql.outbox import outbox_row
from ._sql.rows import (
    PENDING,
    compact_json,
    event_row,
    flow_run_row,
    hook_error_row,
    run_state,
    state_columns,
    task_run_row,
)

__all__ = ["PreparedBatch", "claim_batch", "escape_text", "mark_batch", "prepare_batch"]

#: Takes a batch's number for its process, unless that batch (or a later one) was applied. The
#: row lock it takes makes a replay wait for a first attempt still committing, then see it.
_CLAIM_BATCH = "UPDATE processes SET last_batch = ? WHERE id = ? AND coalesce(last_batch, 0) < ?"
_MARK_BATCH = "UPDATE processes SET last_batch = ? WHERE id = ?"
_PROCESS_ROW = "SELECT 1 FROM processes WHERE id = ?"

Rows = list[tuple[Any, ...]]


def claim_batch(db: Executor, key: BatchKey, dialect: Dialect) -> bool | None:
    """In the batch's transaction, before its writes: True when the batch is to be applied;
    None when it was already (a replay: apply nothing); False when the process's row is gone
    (apply it, the heartbeat registers the process again, then :func:`mark_batch`)."""
    claimed = db.execute(
        dialect.sql(_CLAIM_BATCH), (key.number, key.process_id, key.number)
    ).rowcount
    if claimed:
        return True
    if db.execute(dialect.sql(_PROCESS_ROW), (key.process_id,)).fetchone() is not None:
        return None
    return False


def mark_batch(db: Executor, key: BatchKey, dialect: Dialect) -> None:
    """Record the batch's number on a process row inserted again in its transaction."""
    db.execute(dialect.sql(_MARK_BATCH), (key.number, key.process_id))


@attrs.define
class PreparedBatch:
    """The rows of one batch, table by table, in the order the batch wrote them."""

    #: Insert rows of the runs created in this batch, with the last state they reached in it.
    flow_runs: Rows = attrs.Factory(list)
    task_runs: Rows = attrs.Factory(list)
    #: Update rows (state columns, then the run id) of runs created before this batch.
    flow_updates: Rows = attrs.Factory(list)
    task_updates: Rows = attrs.Factory(list)
    events: Rows = attrs.Factory(list)
    hook_errors: Rows = attrs.Factory(list)
    outbox: Rows = attrs.Factory(list)
    #: The run log records, in the columns of ``run_logs`` (:class:`RunLog`'s fields).
    logs: list[Any] = attrs.Factory(list)
    beat: Beat | None = None
    #: The process's clean exit, when the batch records it.
    exited: ProcessExit | None = None
    #: The batch's key: applied once, however often it is written.
    key: BatchKey | None = None

    def escaped(self, *, nul: bool = False) -> PreparedBatch:
        """This batch with every text a database cannot hold written escaped (see
        :func:`escape_text`); ``nul`` also escapes NUL characters (PostgreSQL)."""

        def rows(values: list[Any]) -> Rows:
            return [tuple(escape_text(value, nul=nul) for value in row) for row in values]

        return attrs.evolve(
            self,
            flow_runs=rows(self.flow_runs),
            task_runs=rows(self.task_runs),
            flow_updates=rows(self.flow_updates),
            task_updates=rows(self.task_updates),
            events=rows(self.events),
            hook_errors=rows(self.hook_errors),
            outbox=rows(self.outbox),
            logs=rows(self.logs),
        )


def escape_text(value: Any, *, nul: bool = False) -> Any:
    """``value`` storable as text: lone surrogates (not valid Unicode, from a non-UTF-8
    filename, say) written with backslash escapes, ``"a\\udcff"`` for ``"a\udcff"``, and with
    ``nul`` a NUL as ``\\x00``. The escapes are plain text, readable and never taken for
    anything else. Values that are not text are returned as they are."""
    if not isinstance(value, str):
        return value
    if nul and "\x00" in value:
        value = value.replace("\x00", "\\x00")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


class _Sorting:
    """A batch while :func:`prepare_batch` sorts it. Runs are keyed by ``id()`` of their UUID
    object: the engine uses one object per run, and a UUID's own hash is computed in Python. A
    miss is only slower, never wrong. A run's transitions go in three plain dicts rather than an
    object per run: this runs for every run of every batch."""

    __slots__ = ("batch", "histories", "last", "new", "states", "texts")

    def __init__(self) -> None:
        #: Per run that moved, in the order its first transition comes: its states, as
        #: ``state_columns``, in the order it entered them.
        self.states: dict[int, list[tuple[Any, ...]]] = {}
        #: Per run that moved: its last transition (the run row's new current state).
        self.last: dict[int, Transition] = {}
        #: Per run that moved: (its id, its history's id) as text.
        self.histories: dict[int, tuple[str, str]] = {}
        #: Per run created in the batch, in order: its NewRun, its id and its flow run's id.
        self.new: dict[int, tuple[NewRun, str, str | None]] = {}
        #: Each UUID's text, made once per batch.
        self.texts: dict[int, str] = {}
        self.batch = PreparedBatch()

    def text(self, uuid: Any) -> str:
        found = self.texts.get(id(uuid))
        if found is None:
            found = self.texts[id(uuid)] = str(uuid)
        return found

    def new_run(self, item: NewRun) -> None:
        # the same flow run id for all its tasks
        flow_run_id = None if item.flow_run_id is None else self.text(item.flow_run_id)
        self.new[id(item.id)] = (item, self.text(item.id), flow_run_id)

    def moved(self, key: int, item: Transition) -> list[tuple[Any, ...]]:
        """The states list of a run's first transition in the batch."""
        self.histories[key] = (self.text(item.run_id), self.text(item.history_id))
        found: list[tuple[Any, ...]] = []
        self.states[key] = found
        return found

    def other(self, item: Write) -> None:
        batch = self.batch
        if isinstance(item, HookError):
            batch.hook_errors.append(hook_error_row(item))
        elif isinstance(item, OutboxEntry):
            batch.outbox.append(outbox_row(item))
        elif isinstance(item, Beat):
            batch.beat = item
        elif isinstance(item, BatchKey):
            batch.key = item
        else:
            batch.exited = item  # type: ignore[assignment]

    def rows(self) -> PreparedBatch:
        """The batch's run rows: a new run inserted in its last state (a task run with its
        states in its own row), other runs updated, with one event row each."""
        batch, states, last, new = self.batch, self.states, self.last, self.new
        task_runs = batch.task_runs
        for key, (created, run_id, flow_run_id) in new.items():
            transition = last.get(key)
            state = PENDING if transition is None else run_state(transition)
            if created.kind == "task":
                packed = None if transition is None else compact_json(states[key])
                task_runs.append(task_run_row(created, run_id, flow_run_id, packed, state))
            else:
                batch.flow_runs.append(flow_run_row(created, run_id, state))
        for key, (run_id, history_id) in self.histories.items():
            kind = last[key].kind
            if key not in new:
                updates = batch.flow_updates if kind == "flow" else batch.task_updates
                updates.append((*run_state(last[key]), run_id))
            elif kind == "task":
                continue  # a new task run's states are in its row
            batch.events.append(event_row(kind, run_id, history_id, states[key]))
        return batch


def prepare_batch(batch: Iterable[Write]) -> PreparedBatch:
    """Sort ``batch`` into rows.

    A run created in this batch is inserted with the last state it reached in the batch, and a
    task run created in it keeps the batch's states in its own row: a short task run costs one
    insert. Other runs get one event row each for their states of the batch.
    """
    sorting = _Sorting()
    logs, states, last = sorting.batch.logs, sorting.states, sorting.last
    for item in batch:  # transitions inline: this loop runs for every transition of every run
        if type(item) is Transition:
            key = id(item.run_id)
            found = states.get(key)
            if found is None:
                found = sorting.moved(key, item)
            found.append(state_columns(item.state, item.traceback))
            last[key] = item
        elif type(item) is RunLog:  # already the row: a tuple of its columns
            logs.append(item)
        elif type(item) is NewRun:
            sorting.new_run(item)
        else:
            sorting.other(item)
    return sorting.rows()
