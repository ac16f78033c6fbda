"""Batches of writes: what a writer's queue holds, the run each write belongs to, and a batch
sorted into the rows each table gets, the same for every database.

The writer thread (:mod:`._writer`) and the writer process
(:mod:`flowhook._runtime.writer_process`) queue writes and waiters. The store turns a batch of
transitions, new runs, hook errors, run logs, outbox entries, heartbeats and a clean exit into
insert, update and event rows with :func:`prepare_batch` (see :mod:`._sql.rows` for their
columns) and applies them in one transaction. A batch with a :class:`BatchKey` is applied once:
:func:`claim_batch` is the first statement of its transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any

import attrs

from ._records import (
    COMPLETED_RUN_FIELDS,
    COMPLETED_RUN_STATES,
    NEW_RUN_FIELDS,
    TRANSITION_FIELDS,
    BatchKey,
    Beat,
    HookError,
    NewRun,
    OutboxEntry,
    PlainRecord,
    RunLog,
    Transition,
    Write,
    id_text,
    plain_record,
)
from ._sql import Executor
from ._sql.dialect import Dialect
from ._sql.outbox import outbox_row
from ._sql.rows import (
    compact_json,
    completed_task_row,
    event_row,
    plain_task_row,
    run_row,
    run_state,
)

__all__ = [
    "Entry",
    "PreparedBatch",
    "Waiter",
    "claim_batch",
    "mark_batch",
    "moved_run",
    "moved_runs",
    "prepare_batch",
    "run_key",
    "writes_and_waiters",
]


class Waiter(threading.Event):
    """Writes whose caller waits until they, and all queued before them, are applied; ``then``
    is called at that moment, and ``number`` is the least key number of the batch that holds
    them (see :meth:`~flowhook.store.BatchWriter.submit_then`)."""

    def __init__(
        self, writes: tuple[Write, ...], then: Callable[[], None] | None = None, number: int = 0
    ) -> None:
        super().__init__()
        self.writes, self.then, self.number = writes, then, number

    def set(self) -> None:
        super().set()
        if self.then is not None:
            self.then()


#: What the queue holds: writes nobody waits for (a plain tuple, most of them), or a waiter.
Entry = tuple[Write, ...] | Waiter


def writes_and_waiters(entries: Sequence[Entry]) -> tuple[list[Write], list[Waiter]]:
    """The writes of queued ``entries``, in order, and the waiters among them."""
    try:  # nearly always no waiter (it is not iterable): flattened without a Python loop
        return list(chain.from_iterable(entries)), []  # type: ignore[arg-type]
    except TypeError:
        pass
    writes: list[Write] = []
    waiters: list[Waiter] = []
    for entry in entries:
        if type(entry) is tuple:
            writes += entry
        else:
            writes += entry.writes  # type: ignore[union-attr]
            waiters.append(entry)  # type: ignore[arg-type]
    return writes, waiters


def run_key(write: Write, histories: dict[str, str]) -> str:
    """The run whose history ``write`` belongs to (a flow run, or a task run outside any flow):
    the unit of a batch that is written, or left out, as a whole."""
    if isinstance(write, Transition | NewRun):
        write = plain_record(write)
    if type(write) is tuple:
        if len(write) == TRANSITION_FIELDS:
            return id_text(write[2])
        return id_text(write[1] if write[7] is None else write[7])
    if isinstance(write, HookError):
        return str(write.history_id)
    if isinstance(write, OutboxEntry):
        return histories.get(write.run_id, write.run_id)
    if isinstance(write, RunLog):
        return write.flow_run_id or write.task_run_id or ""
    return ""  # Beat, ProcessExit: the process's own


def moved_run(write: Write) -> int | None:
    """The run a write moves (its id's integer): a transition's, or a completed run's (see
    :func:`~flowhook.store.completed_run_record`); None for a write of another kind."""
    if type(write) is tuple:
        return write[1] if len(write) in _MOVING_FIELDS else None
    return write.run_id.int if isinstance(write, Transition) else None


#: The lengths of the records that move a run, and how many state events each stands for.
_MOVING_FIELDS = {TRANSITION_FIELDS: 1, COMPLETED_RUN_FIELDS: len(COMPLETED_RUN_STATES)}


def moved_runs(writes: list[Write]) -> list[int]:
    """The run of each state event among ``writes`` (a completed run's record stands for
    three)."""
    runs: list[int] = []
    for write in writes:
        run = moved_run(write)
        if run is not None:
            runs += [run] * (_MOVING_FIELDS[len(write)] if type(write) is tuple else 1)
    return runs


#: Takes a batch's number for its process, unless that batch (or a later one) was applied. The
#: row lock it takes makes a replay wait for a first attempt still committing, then see it.
_CLAIM_BATCH = "UPDATE processes SET last_batch = ? WHERE id = ? AND coalesce(last_batch, 0) < ?"
_MARK_BATCH = "UPDATE processes SET last_batch = ? WHERE id = ?"
_PROCESS_ROW = "SELECT 1 FROM processes WHERE id = ?"

Rows = list[tuple[Any, ...]]
#: The fields of :class:`PreparedBatch` that hold rows, in the order they are applied.
TABLES = (
    "flow_runs", "task_runs", "flow_updates", "task_updates", "events", "hook_errors", "outbox",
    "logs",
)  # fmt: skip


def claim_batch(db: Executor, key: BatchKey, dialect: Dialect) -> bool | None:
    """In the batch's transaction, before its writes: True when the batch is to be applied;
    None when it was already (a replay: apply nothing); False when the process's row is gone
    (apply it, the heartbeat registers the process again, then :func:`mark_batch`)."""
    if db.execute(dialect.sql(_CLAIM_BATCH), (key.number, key.process_id, key.number)).rowcount:
        return True
    known = db.execute(dialect.sql(_PROCESS_ROW), (key.process_id,)).fetchone() is not None
    return None if known else False


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
    #: The process's clean exit (a ProcessExit), when the batch records it.
    exited: Any = None
    #: The batch's key: applied once, however often it is written.
    key: BatchKey | None = None

    def escaped(self, *, nul: bool = False) -> PreparedBatch:
        """This batch with every text a database cannot hold written escaped (see
        :func:`escape_text`); ``nul`` also escapes NUL characters (PostgreSQL)."""
        escaped = attrs.evolve(self)
        for table, rows in self.tables():
            setattr(escaped, table, [tuple(escape_text(v, nul=nul) for v in row) for row in rows])
        return escaped

    def tables(self) -> list[tuple[str, Rows]]:
        """Each table's rows (by the name of their field), in the order they are applied."""
        return [(name, getattr(self, name)) for name in TABLES]


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


def prepare_batch(batch: Iterable[Write]) -> PreparedBatch:
    """Sort ``batch`` into rows.

    A run created in this batch is inserted with the last state it reached in the batch, and a
    task run created in it keeps the batch's states in its own row: a short task run costs one
    insert. Other runs get one update and one event row each for their states of the batch.
    New runs and transitions are taken as plain records (:func:`plain_record`; the recorder
    makes them so), keyed by their run id's integer. A completed run's record (the recorder's
    for nearly every task run) is its row at once.
    """
    prepared = PreparedBatch()
    #: Per run, in the order it first comes: its new run (None if created before), transitions.
    runs: dict[int, list[Any]] = {}
    texts: dict[int, str] = {}  # a flow run's id as text, made once per batch
    logs = prepared.logs
    item: Any
    for item in batch:  # this loop runs for every transition of every run
        kind = type(item)
        if kind is not tuple:
            if kind is RunLog:  # already the row: a tuple of its columns
                logs.append(item)
                continue
            if kind is not Transition and kind is not NewRun:
                _other(prepared, item)
                continue
            item = plain_record(item)
        elif len(item) == COMPLETED_RUN_FIELDS:  # a whole run: its row alone
            flow_run_id = _text(item[7], texts)
            prepared.task_runs.append(completed_task_row(item, id_text(item[1]), flow_run_id))
            continue
        moved = runs.get(item[1])
        if moved is None:
            runs[item[1]] = [item] if len(item) == NEW_RUN_FIELDS else [None, item]
        elif len(item) == NEW_RUN_FIELDS:
            moved[0] = item
        else:
            moved.append(item)
    for moved in runs.values():
        _add_run(prepared, moved, texts)
    return prepared


def _add_run(prepared: PreparedBatch, moved: list[Any], texts: dict[int, str]) -> None:
    """The rows of one run: its new run's record (or None) and its transitions in the batch."""
    new: PlainRecord | None = moved[0]
    if new is not None:
        kind, number, _, _, _, _, _, flow_run_number, _, _, _, _ = new
        run_id, flow_run_id = id_text(number), _text(flow_run_number, texts)
        if len(moved) == 1:  # created, no transition yet
            rows = prepared.task_runs if kind == "task" else prepared.flow_runs
            rows.append(run_row(new, run_id, flow_run_id, None, None))
            return
        if kind == "task":  # nearly every run: one row, its states in it
            row = plain_task_row(new, run_id, flow_run_id, moved)
            if row is None:
                states = _states(moved)
                row = run_row(new, run_id, flow_run_id, compact_json(states), run_state(moved[-1]))
            prepared.task_runs.append(row)
            return
    last: PlainRecord = moved[-1]
    kind, number, history_number = last[:3]
    states = _states(moved)
    if new is None:
        run_id = id_text(number)
        updates = prepared.flow_updates if kind == "flow" else prepared.task_updates
        updates.append((*run_state(last), run_id))
    else:
        prepared.flow_runs.append(run_row(new, run_id, None, None, run_state(last)))
    history_id = run_id if history_number == number else _text(history_number, texts)
    prepared.events.append(event_row(kind, run_id, history_id, states))


def _states(moved: list[Any]) -> list[tuple[Any, ...]]:
    """The columns of each state a run entered in the batch (see :func:`state_columns`): its
    transitions' records from the state's type to its traceback."""
    return [item[3:11] for item in moved[1:]]


def _text(number: int | None, texts: dict[int, str]) -> Any:
    """A flow run's id as text, made once per batch (all its task runs name it)."""
    if number is None:
        return None
    found = texts.get(number)
    if found is None:
        found = texts[number] = id_text(number)
    return found


def _other(prepared: PreparedBatch, item: Write) -> None:
    if isinstance(item, HookError):
        run_id, history_id = str(item.run_id), str(item.history_id)
        prepared.hook_errors.append((run_id, item.kind, history_id, *item[3:]))
    elif isinstance(item, OutboxEntry):
        prepared.outbox.append(outbox_row(item))
    elif isinstance(item, Beat):
        prepared.beat = item
    elif isinstance(item, BatchKey):
        prepared.key = item
    else:
        prepared.exited = item
