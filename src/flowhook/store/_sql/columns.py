"""The columns the store reads back, and the checks that each value is of a kind it writes.

Every value read back is checked to be of the kind flowhook writes (text, number, JSON of the
right shape), so that a damaged database is a :class:`~flowhook.store._errors.DamagedData`
naming the column, never a ``TypeError`` far away in whatever uses the record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .._errors import DamagedData

__all__ = [
    "EVENT_SELECT",
    "FLOW_COLUMNS",
    "HOOK_ERROR_COLUMNS",
    "INTEGER",
    "PROCESS_COLUMNS",
    "RUN_COLUMNS",
    "TASK_COLUMNS",
    "TEXT",
    "checked",
    "json_value",
    "layout",
    "shown",
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
OPTIONAL_TEXT: tuple[type, ...] = (str, _NONE)
NUMBER: tuple[type, ...] = (int, float)
OPTIONAL_NUMBER: tuple[type, ...] = (int, float, _NONE)
INTEGER: tuple[type, ...] = (int,)
OPTIONAL_INTEGER: tuple[type, ...] = (int, _NONE)


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
        OPTIONAL_TEXT,
    ),
    **_kinds("created timestamp started last_heartbeat time", NUMBER),
    **_kinds("start_time end_time cancel_requested scheduled_time exited", OPTIONAL_NUMBER),
    **_kinds("run_count seq pid level", INTEGER),
    "process_id": OPTIONAL_INTEGER,
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
