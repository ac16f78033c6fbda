"""The rows a batch writes, each builder beside the columns it fills, and their statements.

A row is a plain tuple in the order of its column list here, because ``executemany`` takes
sequences and one is made for every run of every batch; the functions that make them are the
only places that know the order. :mod:`flowhook.store._batch` uses them to sort a batch.
"""

from __future__ import annotations

import functools
import json
import json.encoder
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from flowhook_hookspec.states import StateType

from .._records import NEW_RUN_FIELDS, PlainRecord, id_text, state_columns
from .outbox import INSERT_OUTBOX
from .records import PLAIN_STATES

if TYPE_CHECKING:
    from . import Into
    from .dialect import Dialect

__all__ = [
    "INSERT_EVENT",
    "INTO",
    "batch_statements",
    "compact_json",
    "completed_task_row",
    "event_row",
    "plain_task_row",
    "run_row",
    "run_state",
    "state_columns",
]


def _insert(table: str, columns: str) -> str:
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(columns.split()))})"


EVENT_COLUMNS = (
    "run_id, run_kind, history_id, type, name, message, timestamp, scheduled_time, "
    "exception_type, exception_message, traceback, earlier"
)
INSERT_EVENT = _insert("state_events", EVENT_COLUMNS)
#: A run row's current state, as :func:`run_state` gives it: the last columns of its insert.
_STATE_COLUMNS = "state_type, state_name, state_message, run_count, start_time, end_time"
#: The columns of the inserts of :func:`run_row`.
FLOW_INSERT_COLUMNS = (
    "id, name, flow_name, import_path, created, process_id, parent_flow_run_id, "
    f"parent_task_run_id, tags, parameters, {_STATE_COLUMNS}"
)
TASK_INSERT_COLUMNS = (
    f"id, name, task_name, import_path, created, process_id, flow_run_id, tags, states, "
    f"{_STATE_COLUMNS}"
)
#: A compare-and-set of a run row's state (then its id): a late write (from a process that was
#: taken for dead, or that lost a race with a cancel) never overwrites Crashed or Cancelled;
#: its events are still recorded. ``{table}`` is ``flow_runs`` or ``task_runs``.
UPDATE_RUN = (
    "UPDATE {table} SET state_type = ?, state_name = ?, state_message = ?, run_count = ?, "
    "start_time = ?, end_time = ? WHERE id = ? AND state_type NOT IN ('CRASHED', 'CANCELLED')"
)
#: The inserts a batch sends many rows to, by table of :class:`~.._batch.PreparedBatch`: the
#: table, its columns and what follows the rows (for a backend that sends them in one insert).
INTO: dict[str, Into] = {
    "flow_runs": ("flow_runs", FLOW_INSERT_COLUMNS, " ON CONFLICT (id) DO NOTHING"),
    "task_runs": ("task_runs", TASK_INSERT_COLUMNS, " ON CONFLICT (id) DO NOTHING"),
    "events": ("state_events", EVENT_COLUMNS, ""),
}
_COMPLETED_TYPE = StateType.COMPLETED.value
#: The state of a run created without a transition in its batch.
_PENDING: tuple[Any, ...] = (StateType.PENDING.value, "Pending", None, 0, None, None)


def _compact_encoder() -> Callable[[Any], str]:
    """JSON without spaces, as ``json.JSONEncoder(separators=(",", ":")).encode`` writes it.

    ``encode`` builds a new C encoder on every call, which costs more than encoding a task
    run's few states: the C encoder is made once here (the stdlib's own, with the arguments
    ``JSONEncoder.iterencode`` gives it), and the pure-Python one serves where it is missing.
    """
    plain = json.JSONEncoder(separators=(",", ":"), check_circular=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    try:
        encoder = make(  # type: ignore[misc]
            None, plain.default, encode_basestring_ascii, None, ":", ",", False, False, True
        )
    except TypeError:  # no C encoder, or one that takes other arguments
        return plain.encode
    join = "".join

    def encode(value: Any) -> str:
        return join(encoder(value, 0))

    return encode


#: JSON without spaces; a list of a run's states (tuples of plain values) in one call.
compact_json = _compact_encoder()


#: The JSON of a plain state (see :func:`plain_task_row`) before its timestamp, by its name
#: (with its type, checked), made by :data:`compact_json` itself; and after its timestamp.
_PLAIN_STARTS: dict[str, tuple[str, str]] = {}
_PLAIN_END = "," + compact_json((None, None, None, None))[1:]
#: At most this many state names get their JSON kept (a custom name is rare).
_MAX_PLAIN_STARTS = 256


def _plain_start(kind: str, name: str) -> tuple[str, str]:
    """The JSON of a plain state of type ``kind`` (its value) up to its timestamp,
    ``["COMPLETED","Completed",null,``, after its type; kept by its name (unless too many
    are)."""
    found = (kind, compact_json((kind, name, None))[:-1] + ",")
    if len(_PLAIN_STARTS) < _MAX_PLAIN_STARTS:
        _PLAIN_STARTS[name] = found
    return found


def plain_task_row(
    new: PlainRecord, run_id: str, flow_run_id: str | None, moved: list[PlainRecord]
) -> tuple[Any, ...] | None:
    """The insert row of a task run created in its batch (``new``, then its transitions in the
    batch: records of :func:`~flowhook.store.transition_record`), as :func:`run_row` makes it
    with its states' JSON, when every one of those states is plain: no message, scheduled time,
    exception or traceback (nearly every task run). None otherwise. Its states are
    :data:`PLAIN_STATES` when they are those three, else JSON put together from pieces
    :data:`compact_json` wrote."""
    for item in moved[1:]:
        _, _, _, _, _, message, _, scheduled, error, error_message, tb, _, _, _ = item
        if not (message is scheduled is error is error_message is tb is None):  # all None
            return None
    # The last state (its message, checked: None), and the run's columns after it.
    _, _, _, type_, name, _, _, _, _, _, _, run_count, start, end = moved[-1]
    _, _, run_name, owner_name, import_path, created, process_id, _, _, _, tags, _ = new
    if len(moved) == 4 and _entered_plainly(moved, created, start, end):
        states = PLAIN_STATES
    else:
        states = _plain_json(moved)
    return (
        run_id, run_name, owner_name, import_path, created, process_id, flow_run_id, tags,
        states, type_, name, None, run_count, start, end,
    )  # fmt: skip


def completed_task_row(
    record: PlainRecord, run_id: str, flow_run_id: str | None
) -> tuple[Any, ...]:
    """The insert row of a task run from its :func:`~flowhook.store.completed_run_record`: the
    row :func:`plain_task_row` makes of the four records it stands for (states
    :data:`PLAIN_STATES`)."""
    state = (_COMPLETED_TYPE, "Completed", None, *record[NEW_RUN_FIELDS:])
    return run_row(record[:NEW_RUN_FIELDS], run_id, flow_run_id, PLAIN_STATES, state)


def _entered_plainly(moved: list[PlainRecord], created: float, start: Any, end: Any) -> bool:
    """Whether the three plain states of ``moved`` (after its new run's record) are those of
    :data:`PLAIN_STATES`, at the times of the run's row."""
    _, pending, running, completed = moved
    return bool(
        pending[6] == created
        and running[6] == start
        and completed[6] == end
        and pending[4] == "Pending"
        and running[4] == "Running"
        and completed[4] == "Completed"
        and pending[3] == "PENDING"
        and running[3] == "RUNNING"
        and completed[3] == "COMPLETED"
    )


def _plain_json(moved: list[PlainRecord]) -> str:
    """The JSON of the plain states of ``moved`` (after its new run's record)."""
    parts = []
    for item in moved[1:]:
        type_, name, seconds = item[3], item[4], item[6]
        start_json = _PLAIN_STARTS.get(name)
        if start_json is None or start_json[0] != type_:
            start_json = _plain_start(type_, name)
        parts.append(f"{start_json[1]}{seconds!r}{_PLAIN_END}")
    return f"[{','.join(parts)}]"


def event_row(
    kind: str, run_id: str, history_id: str, states: list[tuple[Any, ...]]
) -> tuple[Any, ...]:
    """The state_events row of one run's consecutive ``states`` (as :func:`state_columns`):
    the last in the row's columns, those before it in ``earlier``."""
    earlier = compact_json(states[:-1]) if len(states) > 1 else None
    return (run_id, kind, history_id, *states[-1], earlier)


def run_state(last: PlainRecord) -> tuple[Any, ...]:
    """The state columns of a run whose last transition in a batch is the record ``last``: its
    state's type, name and message, then the run's count, start and end."""
    return (*last[3:6], *last[11:])


def run_row(
    new: PlainRecord,
    run_id: str,
    flow_run_id: str | None,
    states: str | None,
    state: tuple[Any, ...] | None,
) -> tuple[Any, ...]:
    """The insert row of a new run (:data:`FLOW_INSERT_COLUMNS` or :data:`TASK_INSERT_COLUMNS`)
    from its record (see :func:`~flowhook.store.plain_record`) in ``state`` (None: Pending,
    without a transition in its batch). ``run_id`` and a task run's ``flow_run_id`` are ids as
    text; its ``states``, those it entered in its batch (JSON, or None)."""
    kind, _, name, owner, import_path, created, process_id, _, *parents, tags, parameters = new
    first = (run_id, name, owner, import_path, created, process_id)
    if kind == "task":
        return (*first, flow_run_id, tags, states, *(state or _PENDING))
    parent_ids = [None if parent is None else id_text(parent) for parent in parents]
    return (*first, *parent_ids, tags, parameters, *(state or _PENDING))


@functools.cache
def batch_statements(dialect: Dialect) -> dict[str, str]:
    """The insert or update of each table of a :class:`~.._batch.PreparedBatch`, in a
    dialect's SQL; a HookError's row is its fields, with the ids as text."""
    hook_errors = "run_id, run_kind, history_id, timestamp, description, traceback"
    statements = {
        "flow_runs": dialect.insert("flow_runs", FLOW_INSERT_COLUMNS, "id"),
        "task_runs": dialect.insert("task_runs", TASK_INSERT_COLUMNS, "id"),
        "flow_updates": UPDATE_RUN.format(table="flow_runs"),
        "task_updates": UPDATE_RUN.format(table="task_runs"),
        "events": INSERT_EVENT,
        "hook_errors": _insert("hook_errors", hook_errors),
        "outbox": INSERT_OUTBOX,
        "logs": _insert("run_logs", "flow_run_id, task_run_id, level, time, message, logger"),
    }
    return {table: dialect.sql(statement) for table, statement in statements.items()}
