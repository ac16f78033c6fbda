"""Runs and events as table rows and back: each row builder beside the columns it fills.

The positions these functions read and write are those of the column lists here. Every value
read back is checked to be of the kind flowhook writes (text, number, JSON of the right shape),
so that a damaged file is a :class:`~.connection.DamagedData` naming the column, never a
``TypeError`` far away in whatever uses the record.
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

from .._records import (
    EventRecord,
    HookErrorRecord,
    NewRun,
    ProcessRecord,
    RunKindName,
    RunRecord,
)
from .connection import DamagedData

__all__ = [
    "EVENT_SELECT",
    "FLOW_COLUMNS",
    "INSERT_EVENT",
    "INSERT_FLOW_RUN",
    "INSERT_TASK_RUN",
    "TASK_COLUMNS",
    "TASK_ROW_STATES",
    "checked",
    "compact_json",
    "event_records",
    "event_row",
    "flow_record",
    "hook_error_record",
    "json_value",
    "layout",
    "new_run_row",
    "process_record",
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
PROCESS_COLUMNS = "id, pid, host, start_token, started, last_heartbeat, command, exited"
HOOK_ERROR_COLUMNS = "run_id, run_kind, timestamp, description, traceback"

# -- the kinds of values flowhook writes, column by column --------------------------------------

_NONE = type(None)
TEXT: tuple[type, ...] = (str,)
OPTIONAL_TEXT: tuple[type, ...] = (str, _NONE)
NUMBER: tuple[type, ...] = (int, float)
OPTIONAL_NUMBER: tuple[type, ...] = (int, float, _NONE)
INTEGER: tuple[type, ...] = (int,)
OPTIONAL_INTEGER: tuple[type, ...] = (int, _NONE)

#: Every column of the tables read back into records, with the kinds of value it may hold.
_COLUMN_KINDS: dict[str, tuple[type, ...]] = {
    "id": TEXT,
    "name": TEXT,
    "flow_name": TEXT,
    "task_name": TEXT,
    "import_path": OPTIONAL_TEXT,
    "state_type": TEXT,
    "state_name": TEXT,
    "state_message": OPTIONAL_TEXT,
    "run_count": INTEGER,
    "created": NUMBER,
    "start_time": OPTIONAL_NUMBER,
    "end_time": OPTIONAL_NUMBER,
    "process_id": OPTIONAL_INTEGER,
    "parent_flow_run_id": OPTIONAL_TEXT,
    "parent_task_run_id": OPTIONAL_TEXT,
    "flow_run_id": OPTIONAL_TEXT,
    "tags": TEXT,
    "parameters": OPTIONAL_TEXT,
    "cancel_requested": OPTIONAL_NUMBER,
    "states": OPTIONAL_TEXT,
    "seq": INTEGER,
    "run_id": TEXT,
    "run_kind": TEXT,
    "type": TEXT,
    "message": OPTIONAL_TEXT,
    "timestamp": NUMBER,
    "scheduled_time": OPTIONAL_NUMBER,
    "exception_type": OPTIONAL_TEXT,
    "exception_message": OPTIONAL_TEXT,
    "traceback": OPTIONAL_TEXT,
    "earlier": OPTIONAL_TEXT,
    "description": TEXT,
    "pid": INTEGER,
    "host": TEXT,
    "start_token": OPTIONAL_TEXT,
    "exited": OPTIONAL_NUMBER,
    "started": NUMBER,
    "last_heartbeat": NUMBER,
    "command": OPTIONAL_TEXT,
    "block_type": TEXT,
    "data": TEXT,
}

Layout = tuple[tuple[str, tuple[type, ...]], ...]


def layout(table: str, columns: str, **kinds: tuple[type, ...]) -> Layout:
    """The ``(table.column, kinds)`` of a select's columns, for :func:`checked`; ``kinds``
    overrides the usual kinds of a column name (``processes.id`` is an integer)."""
    return tuple(
        (f"{table}.{name}", kinds.get(name) or _COLUMN_KINDS[name]) for name in columns.split(", ")
    )


def _expected(kinds: tuple[type, ...]) -> str:
    names = ["text"] if str in kinds else []
    names += ["a number"] if float in kinds else ["an integer"] if int in kinds else []
    return " or ".join(names + (["null"] if _NONE in kinds else []))


def _shown(value: Any) -> str:
    kind = {str: "text", bytes: "a blob", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )
    text = repr(value)
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


def checked(row: Sequence[Any], columns: Layout) -> Sequence[Any]:
    """``row``, when each of its values is of a kind its column holds; DamagedData otherwise."""
    for value, (column, kinds) in zip(row, columns, strict=True):
        if not isinstance(value, kinds):
            raise DamagedData(
                f"{column} holds {_shown(value)} where flowhook writes {_expected(kinds)}"
            )
    return row


def json_value(text: Any, column: str, kinds: tuple[type, ...]) -> Any:
    """The JSON value of ``text``, of one of ``kinds``; DamagedData names ``column`` otherwise."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, TypeError):  # JSONDecodeError, UnicodeDecodeError (a blob), not text
        raise DamagedData(f"{column} holds {_shown(text)}, which is not JSON") from None
    if not isinstance(value, kinds):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise DamagedData(f"{column} holds {_shown(text)} where flowhook writes a JSON {names}")
    return value


_FLOW_LAYOUT = layout("flow_runs", FLOW_COLUMNS)
_TASK_LAYOUT = layout("task_runs", TASK_COLUMNS)
_EVENT_LAYOUT = layout("state_events", EVENT_SELECT)
_IN_RUN_LAYOUT = layout("task_runs", "id, states")
_PROCESS_LAYOUT = layout("processes", PROCESS_COLUMNS, id=INTEGER)
_HOOK_ERROR_LAYOUT = layout("hook_errors", HOOK_ERROR_COLUMNS)
#: A state packed into a JSON array (``earlier``, ``states``): the event columns type..traceback.
_PACKED_KINDS = tuple(kinds for _, kinds in _EVENT_LAYOUT[2:10])


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


def _tags(text: str, table: str) -> tuple[str, ...]:
    tags = json_value(text, f"{table}.tags", (list,))
    if not all(isinstance(tag, str) for tag in tags):
        raise DamagedData(f"{table}.tags holds {_shown(text)} where flowhook writes a list of text")
    return tuple(tags)


def flow_record(row: sqlite3.Row | tuple[Any, ...]) -> RunRecord:
    checked(row, _FLOW_LAYOUT)
    return RunRecord(
        kind="flow",
        **_run_fields(row),
        parent_flow_run_id=row[12],
        parent_task_run_id=row[13],
        tags=_tags(row[14], "flow_runs"),
        parameters=json_value(row[15], "flow_runs.parameters", (dict,)),
        cancel_requested=row[16],
    )


def task_record(row: sqlite3.Row | tuple[Any, ...]) -> RunRecord:
    checked(row, _TASK_LAYOUT)
    return RunRecord(
        kind="task",
        **_run_fields(row),
        flow_run_id=row[12],
        tags=_tags(row[13], "task_runs"),
    )


def process_record(row: tuple[Any, ...]) -> ProcessRecord:
    return ProcessRecord(*checked(row, _PROCESS_LAYOUT))


def hook_error_record(row: tuple[Any, ...]) -> HookErrorRecord:
    return HookErrorRecord(*checked(row, _HOOK_ERROR_LAYOUT))


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
    for row in in_run_rows:
        run_id, states = checked(row, _IN_RUN_LAYOUT)
        events += [(0, run_id, packed) for packed in _packed(states, "task_runs.states")]
    for row in rows:
        seq, run_id, *columns, earlier = checked(row, _EVENT_LAYOUT)
        if earlier is not None:
            events += [(seq, run_id, packed) for packed in _packed(earlier, "state_events.earlier")]
        events.append((seq, run_id, columns))
    if in_time_order:
        events.sort(key=lambda event: event[2][3])  # the timestamp column
    return [_event_record(*event) for event in events]


def _packed(text: str, column: str) -> list[Sequence[Any]]:
    """The states packed in a JSON array (as :func:`state_columns` makes them), checked."""
    states: list[Sequence[Any]] = json_value(text, column, (list,))
    for packed in states:
        if not isinstance(packed, list) or len(packed) != len(_PACKED_KINDS):
            raise DamagedData(f"{column} holds {_shown(text)}, not the states flowhook writes")
        for value, kinds in zip(packed, _PACKED_KINDS, strict=True):
            if not isinstance(value, kinds):
                raise DamagedData(f"{column} holds {_shown(text)}, not the states flowhook writes")
    return states


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
