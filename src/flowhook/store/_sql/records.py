"""The columns the store reads back, and their rows as the store's records.

Every value read back is checked to be of the kind flowhook writes (text, number, JSON of the
right shape), so that a damaged database is a :class:`~flowhook.store._errors.DamagedData`
naming the column, never a ``TypeError`` far away in whatever uses the record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._errors import DamagedData
from .._records import COMPLETED_RUN_STATES, RunRecord

if TYPE_CHECKING:
    from .._details import EventRecord, HookErrorRecord, ProcessRecord

__all__ = [
    "EVENT_SELECT",
    "FLOW_COLUMNS",
    "HOOK_ERROR_COLUMNS",
    "IN_RUN_COLUMNS",
    "PLAIN_STATES",
    "PROCESS_COLUMNS",
    "TASK_COLUMNS",
    "checked",
    "event_records",
    "flow_record",
    "hook_error_record",
    "json_value",
    "layout",
    "process_record",
    "states_in_run",
    "states_of_event",
    "task_record",
]

#: The columns both run tables' selects start with; ``{owner}`` is the flow's or task's name.
RUN_COLUMNS = (
    "id, name, {owner}, import_path, state_type, state_name, state_message, run_count, "
    "created, start_time, end_time, process_id"
)
FLOW_COLUMNS = RUN_COLUMNS.format(owner="flow_name") + (
    ", parent_flow_run_id, parent_task_run_id, tags, parameters, cancel_requested"
)
TASK_COLUMNS = RUN_COLUMNS.format(owner="task_name") + ", flow_run_id, tags"
EVENT_SELECT = (
    "seq, run_id, type, name, message, timestamp, scheduled_time, exception_type, "
    "exception_message, traceback, earlier"
)
PROCESS_COLUMNS = "id, pid, host, start_token, started, last_heartbeat, command, exited"
HOOK_ERROR_COLUMNS = "run_id, run_kind, timestamp, description, traceback"

# -- the kinds of values flowhook writes, column by column --------------------------------------

_NONE = type(None)
TEXT: tuple[type, ...] = (str,)
INTEGER: tuple[type, ...] = (int,)


def _kinds(columns: str, kinds: tuple[type, ...]) -> dict[str, tuple[type, ...]]:
    return dict.fromkeys(columns.split(), kinds)


#: Every column of the tables read back into records, with the kinds of value it may hold.
_COLUMN_KINDS: dict[str, tuple[type, ...]] = {
    **_kinds(
        "id name flow_name task_name state_type state_name tags run_id run_kind type "
        "description host block_type data logger",
        TEXT,
    ),
    **_kinds(
        "import_path state_message parent_flow_run_id parent_task_run_id flow_run_id "
        "task_run_id parameters states message exception_type exception_message traceback "
        "earlier start_token command",
        (str, _NONE),
    ),
    **_kinds("created timestamp started last_heartbeat time", (int, float)),
    **_kinds("start_time end_time cancel_requested scheduled_time exited", (int, float, _NONE)),
    **_kinds("run_count seq pid level", INTEGER),
    "process_id": (int, _NONE),
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


def shown(value: Any) -> str:
    """``value`` as an error message shows it: its kind and the start of its repr."""
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
                f"{column} holds {shown(value)} where flowhook writes {_expected(kinds)}"
            )
    return row


def json_value(text: Any, column: str, kinds: tuple[type, ...]) -> Any:
    """The JSON value of ``text``, of one of ``kinds``; DamagedData names ``column`` otherwise."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, TypeError):  # JSONDecodeError, UnicodeDecodeError (a blob), not text
        raise DamagedData(f"{column} holds {shown(text)}, which is not JSON") from None
    if not isinstance(value, kinds):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise DamagedData(f"{column} holds {shown(text)} where flowhook writes a JSON {names}")
    return value


_FLOW_LAYOUT = layout("flow_runs", FLOW_COLUMNS)
_TASK_LAYOUT = layout("task_runs", TASK_COLUMNS)
_EVENT_LAYOUT = layout("state_events", EVENT_SELECT)
#: The ``states`` of a task run that entered, in its batch, exactly Pending when it was created,
#: Running at its start time and Completed at its end time, each plain (nearly every task run):
#: their names alone, since its row's ``created``, ``start_time`` and ``end_time`` hold their
#: times (schema version 10; read by :func:`states_in_run`). A Completed run is final: no later
#: write changes those times. Still a JSON array of three states, which ``json_array_length``
#: counts. Not making their JSON saves the writer about a sixth of its CPU per task run.
PLAIN_STATES = json.dumps(list(COMPLETED_RUN_STATES), separators=(",", ":"))
#: A task run's row that holds its states: see :func:`states_in_run`.
IN_RUN_COLUMNS = "id, states, created, start_time, end_time"
_IN_RUN_LAYOUT = layout("task_runs", IN_RUN_COLUMNS)
_PROCESS_LAYOUT = layout("processes", PROCESS_COLUMNS, id=INTEGER)
_HOOK_ERROR_LAYOUT = layout("hook_errors", HOOK_ERROR_COLUMNS)
#: A state packed into a JSON array (``earlier``, ``states``): the event columns type..traceback.
_PACKED_KINDS = tuple(kinds for _, kinds in _EVENT_LAYOUT[2:10])


#: The fields flow runs and task runs share: the first columns of both selects.
_RUN_NAMES = RUN_COLUMNS.format(owner="owner_name").split(", ")


def _run_fields(row: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(_RUN_NAMES, row, strict=False))


def _tags(text: str, table: str) -> tuple[str, ...]:
    tags = json_value(text, f"{table}.tags", (list,))
    if not all(isinstance(tag, str) for tag in tags):
        raise DamagedData(f"{table}.tags holds {shown(text)} where flowhook writes a list of text")
    return tuple(tags)


def flow_record(row: Sequence[Any]) -> RunRecord:
    """A row of :data:`FLOW_COLUMNS` as a record."""
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


def task_record(row: Sequence[Any]) -> RunRecord:
    """A row of :data:`TASK_COLUMNS` as a record."""
    checked(row, _TASK_LAYOUT)
    return RunRecord(
        kind="task",
        **_run_fields(row),
        flow_run_id=row[12],
        tags=_tags(row[13], "task_runs"),
    )


def process_record(row: Sequence[Any]) -> ProcessRecord:
    from .._details import ProcessRecord  # the detail's records: not for a run list

    return ProcessRecord(*checked(row, _PROCESS_LAYOUT))


def hook_error_record(row: Sequence[Any]) -> HookErrorRecord:
    from .._details import HookErrorRecord

    return HookErrorRecord(*checked(row, _HOOK_ERROR_LAYOUT))


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


#: A state as read back, before it becomes an event record: its event row's ``seq`` (0 for one
#: kept in its task run's row), its run's id, and its columns from ``type`` to ``traceback``.
ReadState = tuple[int, str, Sequence[Any]]


def states_in_run(row: Sequence[Any]) -> list[ReadState]:
    """The states a task run's row (of :data:`IN_RUN_COLUMNS`) holds, in the order entered."""
    run_id, states, created, start, end = checked(row, _IN_RUN_LAYOUT)
    if states == PLAIN_STATES:
        packed_states = _plain_states(run_id, created, start, end)
    else:
        packed_states = _packed(states, "task_runs.states")
    return [(0, run_id, packed) for packed in packed_states]


def states_of_event(row: Sequence[Any]) -> list[ReadState]:
    """The states a state_events row (of :data:`EVENT_SELECT`) holds: its ``earlier`` ones, then
    its own."""
    seq, run_id, *columns, earlier = checked(row, _EVENT_LAYOUT)
    if earlier is None:
        return [(seq, run_id, columns)]
    packed = _packed(earlier, "state_events.earlier")
    return [*((seq, run_id, state) for state in packed), (seq, run_id, columns)]


def event_records(in_runs: list[list[ReadState]], rows: list[list[ReadState]]) -> list[EventRecord]:
    """The events of task runs' rows (read by :func:`states_in_run`) and of state_events rows
    (in ``seq`` order, read by :func:`states_of_event`): each run's in the order it entered
    them."""
    return [_event_record(*state) for read in (*in_runs, *rows) for state in read]


def _plain_states(
    run_id: str, created: float, start: float | None, end: float | None
) -> list[Sequence[Any]]:
    """The states :data:`PLAIN_STATES` stands for, packed, at the times of their run's
    row: Pending when created, Running at its start, Completed at its end."""
    if start is None or end is None:
        raise DamagedData(
            f"task_runs.states of {run_id} names its plain states, but its row has no "
            f"{'start_time' if start is None else 'end_time'} to give their times"
        )
    return [
        ("PENDING", "Pending", None, created, None, None, None, None),
        ("RUNNING", "Running", None, start, None, None, None, None),
        ("COMPLETED", "Completed", None, end, None, None, None, None),
    ]


def _packed(text: str, column: str) -> list[Sequence[Any]]:
    """The states packed in a JSON array (as ``state_columns`` makes them), checked."""
    states: list[Sequence[Any]] = json_value(text, column, (list,))
    for packed in states:
        if not (
            isinstance(packed, list)
            and len(packed) == len(_PACKED_KINDS)
            and all(map(isinstance, packed, _PACKED_KINDS))
        ):
            raise DamagedData(f"{column} holds {shown(text)}, not the states flowhook writes")
    return states


def _event_record(seq: int, run_id: str, columns: Sequence[Any]) -> EventRecord:
    """An event as the contract's converter writes a state (ISO 8601 times)."""
    from .._details import EventRecord

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
