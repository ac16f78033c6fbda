"""Runs and events as table rows and back: each row builder beside the columns it fills.

The positions these functions read and write are those of the column lists here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from flowhook_hookspec.serde import exception_to_dict
from flowhook_hookspec.states import State, StateType

from .._records import EventRecord, NewRun, RunKindName, RunRecord

__all__ = [
    "EVENT_SELECT",
    "FLOW_COLUMNS",
    "INSERT_EVENT",
    "INSERT_FLOW_RUN",
    "INSERT_TASK_RUN",
    "TASK_COLUMNS",
    "TASK_ROW_STATES",
    "compact_json",
    "event_records",
    "event_row",
    "flow_record",
    "new_run_row",
    "state_columns",
    "task_record",
]

FLOW_COLUMNS = (
    "id, name, flow_name, import_path, state_type, state_name, state_message, run_count, "
    "created, start_time, end_time, process_id, parent_flow_run_id, parent_task_run_id, tags, "
    "parameters, cancel_requested"
)
TASK_COLUMNS = (
    "id, name, task_name, import_path, state_type, state_name, state_message, run_count, "
    "created, start_time, end_time, process_id, flow_run_id, tags"
)
_EVENT_COLUMNS = (
    "run_id, run_kind, history_id, type, name, message, timestamp, scheduled_time, "
    "exception_type, exception_message, traceback, earlier"
)
INSERT_EVENT = (
    f"INSERT INTO state_events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_STATE_COLUMNS = "state_type, state_name, state_message, run_count, start_time, end_time"
INSERT_FLOW_RUN = (
    "INSERT OR IGNORE INTO flow_runs (id, name, flow_name, import_path, created, process_id, "
    f"parent_flow_run_id, parent_task_run_id, tags, parameters, {_STATE_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_TASK_RUN = (
    "INSERT OR IGNORE INTO task_runs (id, name, task_name, import_path, created, process_id, "
    f"flow_run_id, tags, states, {_STATE_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: Where a fresh task run's insert row holds its ``states`` (see new_run_row).
TASK_ROW_STATES = 8
EVENT_SELECT = (
    "seq, run_id, type, name, message, timestamp, scheduled_time, exception_type, "
    "exception_message, traceback, earlier"
)


def state_columns(state: State, tb: str | None) -> tuple[Any, ...]:
    """One state as the event columns from ``type`` to ``traceback``.

    The columns are the fields of the contract converter's form of a state (the test suite
    checks that they agree), with times as seconds since the epoch; they are read here directly
    because this runs for every transition of every run. A Completed state's data is its result
    and is never written. ``state.type`` is a ``str`` enum: SQLite and JSON store its value.
    """
    exc = state.data
    info = (
        exception_to_dict(exc)
        if isinstance(exc, BaseException) and state.type is not StateType.COMPLETED
        else None
    )
    scheduled = state.scheduled_time
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


#: JSON without spaces, from one encoder made once (``json.dumps`` makes one per call).
compact_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def event_row(
    kind: RunKindName, run_id: str, history_id: str, states: list[tuple[Any, ...]]
) -> tuple[Any, ...]:
    """The state_events row of one run's consecutive ``states`` (as :func:`state_columns`)."""
    earlier = compact_json(states[:-1]) if len(states) > 1 else None
    return (run_id, kind, history_id, *states[-1], earlier)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _run_fields(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    """The fields flow runs and task runs share: the first 12 columns of both selects."""
    return {
        "id": row[0],
        "name": row[1],
        "owner_name": row[2],
        "import_path": row[3],
        "state_type": row[4],
        "state_name": row[5],
        "state_message": row[6],
        "run_count": row[7],
        "created": row[8],
        "start_time": row[9],
        "end_time": row[10],
        "process_id": row[11],
    }


def flow_record(row: sqlite3.Row | tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        kind="flow",
        **_run_fields(row),
        parent_flow_run_id=row[12],
        parent_task_run_id=row[13],
        tags=tuple(_loads(row[14]) or ()),
        parameters=_loads(row[15]),
        cancel_requested=row[16],
    )


def task_record(row: sqlite3.Row | tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        kind="task",
        **_run_fields(row),
        flow_run_id=row[12],
        tags=tuple(_loads(row[13]) or ()),
    )


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def event_records(
    in_run_rows: list[tuple[Any, ...]], rows: list[tuple[Any, ...]], *, in_time_order: bool
) -> list[EventRecord]:
    """The events of task runs' ``states`` (``(id, states)`` pairs) and of state_events rows
    (in ``seq`` order, each row's ``earlier`` states first).

    Packed states are in the order of the batches that wrote them, not the order they were
    entered: ``in_time_order`` sorts a flow run's history by timestamp (a stable sort: the write
    order breaks ties). One run's own events are always in the order it entered them. A state
    kept in its task run's row has no event row: its ``seq`` is 0.
    """
    events: list[tuple[int, str, Sequence[Any]]] = []
    for run_id, states in in_run_rows:
        events += [(0, run_id, packed) for packed in json.loads(states)]
    for seq, run_id, *columns, earlier in rows:
        if earlier is not None:
            events += [(seq, run_id, packed) for packed in json.loads(earlier)]
        events.append((seq, run_id, columns))
    if in_time_order:
        events.sort(key=lambda event: event[2][3])  # the timestamp column
    return [_event_record(*event) for event in events]


def _event_record(seq: int, run_id: str, columns: Sequence[Any]) -> EventRecord:
    """An event as the contract's converter writes a state (ISO 8601 times)."""
    type_, name, message, timestamp, scheduled, exc_type, exc_message, tb = columns
    exception = None if exc_type is None else {"type": exc_type, "message": exc_message}
    state = {
        "type": type_,
        "name": name,
        "message": message,
        "timestamp": _iso(timestamp),
        "run_id": run_id,
        "scheduled_time": _iso(scheduled),
        "exception": exception,
    }
    return EventRecord(seq=seq, run_id=run_id, state=state, traceback=tb)


def new_run_row(item: NewRun) -> list[Any]:
    """The insert row of a new run; its last six columns (the state) are filled in by write()."""
    pending = [StateType.PENDING.value, "Pending", None, 0, None, None]
    if item.kind == "flow":
        return [
            str(item.id),
            item.name,
            item.owner_name,
            item.import_path,
            item.created,
            item.process_id,
            _text(item.parent_flow_run_id),
            _text(item.parent_task_run_id),
            item.tags,
            item.parameters,
            *pending,
        ]
    return [
        str(item.id),
        item.name,
        item.owner_name,
        item.import_path,
        item.created,
        item.process_id,
        None,  # flow_run_id: filled in by write(), which knows its text
        item.tags,
        None,  # states: filled in by write() (TASK_ROW_STATES)
        *pending,
    ]


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)
