"""A batch of writes sorted into the rows each table gets: the same for every database.

The background writer hands the store a batch of transitions, new runs, hook errors, run logs,
outbox entries, heartbeats and a clean exit; :func:`prepare_batch` turns it into insert rows,
update rows and event rows (see :mod:`._sqlite.rows` for their columns), which each store then
applies in one transaction with its own SQL. A batch with a :class:`BatchKey` is applied once:
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
    RunKindName,
    RunLog,
    Transition,
    Write,
)
from ._sql import Executor, marked
from ._sql.outbox import outbox_row
from ._sqlite.rows import TASK_ROW_STATES, compact_json, event_row, new_run_row, state_columns

__all__ = ["PreparedBatch", "claim_batch", "escape_text", "mark_batch", "prepare_batch"]

#: Takes a batch's number for its process, unless that batch (or a later one) was applied. The
#: row lock it takes makes a replay wait for a first attempt still committing, then see it.
_CLAIM_BATCH = "UPDATE processes SET last_batch = ? WHERE id = ? AND coalesce(last_batch, 0) < ?"
_MARK_BATCH = "UPDATE processes SET last_batch = ? WHERE id = ?"
_PROCESS_ROW = "SELECT 1 FROM processes WHERE id = ?"


def claim_batch(db: Executor, key: BatchKey, marks: str) -> bool | None:
    """In the batch's transaction, before its writes: True when the batch is to be applied;
    None when it was already (a replay: apply nothing); False when the process's row is gone
    (apply it, the heartbeat registers the process again, then :func:`mark_batch`)."""
    claimed = db.execute(
        marked(_CLAIM_BATCH, marks), (key.number, key.process_id, key.number)
    ).rowcount
    if claimed:
        return True
    if db.execute(marked(_PROCESS_ROW, marks), (key.process_id,)).fetchone() is not None:
        return None
    return False


def mark_batch(db: Executor, key: BatchKey, marks: str) -> None:
    """Record the batch's number on a process row inserted again in its transaction."""
    db.execute(marked(_MARK_BATCH, marks), (key.number, key.process_id))


@attrs.define
class PreparedBatch:
    """The rows of one batch, table by table, in the order the batch wrote them."""

    #: Per kind, the insert rows of the runs created in this batch (with their last state).
    fresh: dict[RunKindName, list[list[Any]]]
    #: Per kind, the update rows (state columns, then the run id) of runs created before.
    updates: dict[RunKindName, list[tuple[Any, ...]]]
    events: list[tuple[Any, ...]]
    hook_errors: list[tuple[Any, ...]]
    outbox: list[tuple[Any, ...]]
    beat: Beat | None
    #: The process's clean exit, when the batch records it.
    exited: ProcessExit | None = None
    #: The run log records, in the columns of ``run_logs`` (:class:`RunLog`'s fields).
    logs: list[tuple[Any, ...]] = attrs.Factory(list)
    #: The batch's key: applied once, however often it is written.
    key: BatchKey | None = None

    def escaped(self, *, nul: bool = False) -> PreparedBatch:
        """This batch with every text a database cannot hold written escaped (see
        :func:`escape_text`); ``nul`` also escapes NUL characters (PostgreSQL)."""

        def rows(values: list[Any]) -> list[Any]:
            return [[escape_text(value, nul=nul) for value in row] for row in values]

        return attrs.evolve(
            self,
            fresh={kind: rows(values) for kind, values in self.fresh.items()},
            updates={kind: rows(values) for kind, values in self.updates.items()},
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


def prepare_batch(batch: Iterable[Write]) -> PreparedBatch:
    """Sort ``batch`` into rows.

    A run created in this batch is inserted with the last state it reached in the batch, and a
    task run created in it keeps the batch's states in its own row: a short task run costs one
    insert. Other runs get one event row each for their states of the batch.
    """
    # Keyed by id() of the run's UUID object: the engine uses one object per run, and a UUID's
    # own hash is computed in Python. A miss is only slower, never wrong.
    fresh: dict[RunKindName, dict[int, list[Any]]] = {"flow": {}, "task": {}}
    updates: dict[RunKindName, dict[int, tuple[Any, ...]]] = {"flow": {}, "task": {}}
    #: Per run, in the order runs first appear: (kind, run id, history id, its states).
    run_events: dict[int, tuple[RunKindName, str, str, list[tuple[Any, ...]]]] = {}
    #: Per run, its last transition in the batch: the run row's new current state.
    last: dict[int, Transition] = {}
    hook_errors: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    logs: list[tuple[Any, ...]] = []
    beat: Beat | None = None
    exited: ProcessExit | None = None
    batch_key: BatchKey | None = None
    ids: dict[int, str] = {}
    for item in batch:
        if isinstance(item, Transition):
            kind, uuid, history_uuid, state, _, _, _, tb = item
            key = id(uuid)
            packed = run_events.get(key)
            if packed is None:
                run_id = ids.get(key)
                if run_id is None:
                    run_id = ids[key] = str(uuid)
                history_id = ids.get(id(history_uuid))
                if history_id is None:
                    history_id = ids[id(history_uuid)] = str(history_uuid)
                packed = run_events[key] = (kind, run_id, history_id, [])
            packed[3].append(state_columns(state, tb))
            last[key] = item
        elif isinstance(item, RunLog):  # already the row: a tuple of its columns
            logs.append(item)
        elif isinstance(item, NewRun):
            row = new_run_row(item)
            ids[id(item.id)] = row[0]
            if item.flow_run_id is not None:  # the same flow run id for all its tasks
                flow_run_id = ids.get(id(item.flow_run_id))
                if flow_run_id is None:
                    flow_run_id = ids[id(item.flow_run_id)] = str(item.flow_run_id)
                row[6] = flow_run_id
            fresh[item.kind][id(item.id)] = row
        elif isinstance(item, HookError):
            hook_errors.append(
                (
                    str(item.run_id),
                    item.kind,
                    str(item.history_id),
                    item.timestamp,
                    item.description,
                    item.traceback,
                )
            )
        elif isinstance(item, OutboxEntry):
            outbox.append(outbox_row(item))
        elif isinstance(item, Beat):
            beat = item
        elif isinstance(item, BatchKey):
            batch_key = item
        else:
            exited = item

    for key, (kind, _, _, state, run_count, start, end, _) in last.items():
        columns = (
            state.type,
            state.name,
            state.message,
            run_count,
            None if start is None else start.timestamp(),
            None if end is None else end.timestamp(),
        )
        fresh_row = fresh[kind].get(key)
        if fresh_row is not None:
            fresh_row[-6:] = columns
        else:
            updates[kind][key] = (*columns, run_events[key][1])
    events = []
    for key, packed in run_events.items():
        fresh_task = fresh["task"].get(key)
        if fresh_task is not None:  # its states go in its own row
            fresh_task[TASK_ROW_STATES] = compact_json(packed[3])
        else:
            events.append(event_row(*packed))
    return PreparedBatch(
        fresh={kind: list(rows.values()) for kind, rows in fresh.items()},
        updates={kind: list(rows.values()) for kind, rows in updates.items()},
        events=events,
        hook_errors=hook_errors,
        outbox=outbox,
        beat=beat,
        exited=exited,
        logs=logs,
        key=batch_key,
    )
