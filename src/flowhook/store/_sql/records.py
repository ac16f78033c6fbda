"""Rows read back as the store's records: runs, events, processes, hook errors.

Each decoder checks its row first (:func:`~.columns.checked`): a damaged value is a
:class:`~flowhook.store._errors.DamagedData` naming its column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._errors import DamagedData
from .._records import RunRecord
from .columns import (
    EVENT_SELECT,
    FLOW_COLUMNS,
    HOOK_ERROR_COLUMNS,
    INTEGER,
    PROCESS_COLUMNS,
    RUN_COLUMNS,
    TASK_COLUMNS,
    checked,
    json_value,
    layout,
    shown,
)

if TYPE_CHECKING:
    from .._details import EventRecord, HookErrorRecord, ProcessRecord

__all__ = ["event_records", "flow_record", "hook_error_record", "process_record", "task_record"]

_FLOW_LAYOUT = layout("flow_runs", FLOW_COLUMNS)
_TASK_LAYOUT = layout("task_runs", TASK_COLUMNS)
_EVENT_LAYOUT = layout("state_events", EVENT_SELECT)
_IN_RUN_LAYOUT = layout("task_runs", "id, states")
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
    """A row of :data:`~.columns.FLOW_COLUMNS` as a record."""
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
    """A row of :data:`~.columns.TASK_COLUMNS` as a record."""
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


def event_records(
    in_run_rows: list[tuple[Any, ...]], rows: list[tuple[Any, ...]]
) -> list[EventRecord]:
    """The events of task runs' ``states`` (``(id, states)`` pairs) and of state_events rows
    (in ``seq`` order, each row's ``earlier`` states first): each run's in the order it entered
    them. A state kept in its task run's row has no event row: its ``seq`` is 0.
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
    return [_event_record(*event) for event in events]


def _packed(text: str, column: str) -> list[Sequence[Any]]:
    """The states packed in a JSON array (as ``state_columns`` makes them), checked."""
    states: list[Sequence[Any]] = json_value(text, column, (list,))
    for packed in states:
        if not isinstance(packed, list) or len(packed) != len(_PACKED_KINDS):
            raise DamagedData(f"{column} holds {shown(text)}, not the states flowhook writes")
        for value, kinds in zip(packed, _PACKED_KINDS, strict=True):
            if not isinstance(value, kinds):
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
