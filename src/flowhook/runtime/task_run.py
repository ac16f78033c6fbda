"""The task run in progress (Prefect's ``prefect.runtime.task_run``): ``task_run.id``,
``task_run.name``, ``task_run.parameters``... Outside any task run, empty values.

Prefect's ``api_url`` and ``ui_url`` point at a server, which flowhook does not have.
"""

# ruff: noqa: F822  (__all__ lists the attributes __getattr__ serves)
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._engine import TaskRunContext
from ._fields import read_field

__all__ = ["id", "name", "parameters", "run_count", "tags", "task_name"]


def _run_field(name: str, default: Any, convert: Callable[[Any], Any]) -> Callable[[], Any]:
    def read() -> Any:
        context = TaskRunContext.get()
        if context is None or context.task_run is None:
            return default
        return convert(getattr(context.task_run, name))

    read.__name__ = f"get_{name}"
    return read


def _same(value: Any) -> Any:
    return value


FIELDS: dict[str, Callable[[], Any]] = {
    "id": _run_field("id", None, str),
    "tags": _run_field("tags", [], list),
    "name": _run_field("name", None, _same),
    "parameters": _run_field("parameters", {}, _same),
    "run_count": _run_field("run_count", 0, _same),
    "task_name": _run_field("task_name", None, _same),
}


def __getattr__(name: str) -> Any:
    return read_field("task_run", FIELDS, name)


def __dir__() -> list[str]:
    return sorted(FIELDS)
