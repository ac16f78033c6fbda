"""One cattrs converter for every (un)structuring flowhook does.

States and runs become JSON-ready dicts (UUIDs and datetimes as strings, enums as their value,
exceptions as ``{"type", "message"}``) and back. The engine also uses this converter to coerce
flow and task parameters to their annotated types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import cattrs

from .notify import MASK, Secret
from .states import State

__all__ = ["converter", "exception_to_dict"]

converter = cattrs.Converter()

converter.register_unstructure_hook(UUID, str)
converter.register_structure_hook(
    UUID, lambda value, _: value if isinstance(value, UUID) else UUID(str(value))
)
converter.register_unstructure_hook(datetime, datetime.isoformat)


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")


converter.register_structure_hook(datetime, _structure_datetime)


def exception_to_dict(exc: BaseException) -> dict[str, str]:
    """The JSON form of an exception: its qualified type name and its message."""
    kind = type(exc)
    module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
    return {"type": f"{module}{kind.__qualname__}", "message": str(exc)}


def _unstructure_state(state: State) -> dict[str, Any]:
    # The result value is never serialized: it may be large, secret or not JSON at all.
    exc = state.exception
    return {
        "type": state.type.value,
        "name": state.name,
        "message": state.message,
        "timestamp": state.timestamp.isoformat(),
        "run_id": None if state.run_id is None else str(state.run_id),
        "scheduled_time": None
        if state.scheduled_time is None
        else state.scheduled_time.isoformat(),
        "exception": None if exc is None else exception_to_dict(exc),
    }


def _structure_state(value: dict[str, Any], _: type) -> State:
    from .states import StateType

    return State(
        type=StateType(value["type"]),
        name=value["name"],
        message=value.get("message"),
        timestamp=_structure_datetime(value["timestamp"], datetime),
        run_id=None if value.get("run_id") is None else UUID(value["run_id"]),
        scheduled_time=None
        if value.get("scheduled_time") is None
        else _structure_datetime(value["scheduled_time"], datetime),
    )


converter.register_unstructure_hook(State, _unstructure_state)
# A secret's JSON form is the mask: its value leaves only through get_secret_value().
converter.register_unstructure_hook(Secret, lambda _: MASK)
converter.register_structure_hook(State, _structure_state)
