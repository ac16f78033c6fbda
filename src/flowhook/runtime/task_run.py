"""The task run in progress (Prefect's ``prefect.runtime.task_run``): ``task_run.id``,
``task_run.name``, ``task_run.parameters``... Outside any task run, empty values.

Prefect's ``api_url`` and ``ui_url`` point at a server, which flowhook does not have.
"""

# ruff: noqa: F822  (__all__ lists the attributes __getattr__ serves)
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowhook_hookspec.runs import TaskRun

from .._engine import TaskRunContext
from ._fields import read_field, run_field

__all__ = ["id", "name", "parameters", "run_count", "tags", "task_name"]


def _task_run() -> TaskRun | None:
    context = TaskRunContext.get()
    return context.task_run if context is not None else None


FIELDS: dict[str, Callable[[], Any]] = {
    "id": run_field(_task_run, "id", None, str),
    "tags": run_field(_task_run, "tags", [], list),
    "name": run_field(_task_run, "name", None),
    "parameters": run_field(_task_run, "parameters", {}),
    "run_count": run_field(_task_run, "run_count", 0),
    "task_name": run_field(_task_run, "task_name", None),
}


def __getattr__(name: str) -> Any:
    return read_field("task_run", FIELDS, name)


def __dir__() -> list[str]:
    return sorted(FIELDS)
