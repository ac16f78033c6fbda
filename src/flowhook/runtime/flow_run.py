"""The flow run in progress (Prefect's ``prefect.runtime.flow_run``): ``flow_run.id``,
``flow_run.name``, ``flow_run.parameters``... Inside a task run, the flow run it belongs to.

Ids are strings, as in Prefect. Prefect's ``api_url``, ``ui_url``, ``parent_deployment_id`` and
``job_variables`` describe a server and deployments, which flowhook does not have.
"""

# ruff: noqa: F822  (__all__ lists the attributes __getattr__ serves)
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from flowhook_hookspec.runs import FlowRun

from .._engine import FlowRunContext, TaskRunContext, active_flow_run
from ._fields import read_field, run_field

__all__ = [
    "flow_name",
    "flow_version",
    "id",
    "name",
    "parameters",
    "parent_flow_run_id",
    "root_flow_run_id",
    "run_count",
    "scheduled_start_time",
    "tags",
]


def _flow_run() -> FlowRun | None:
    context = FlowRunContext.get()
    return context.flow_run if context is not None else None


def get_id() -> str | None:
    """The flow run's id; in a task run called outside any flow, None."""
    run = _flow_run()
    if run is not None:
        return str(run.id)
    task_context = TaskRunContext.get()
    if task_context is not None and task_context.task_run is not None:
        flow_run_id = task_context.task_run.flow_run_id
        return str(flow_run_id) if flow_run_id is not None else None
    return None


def _optional_id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def get_flow_version() -> str | None:
    """The flow's ``version`` option."""
    context = FlowRunContext.get()
    return getattr(context.flow, "version", None) if context is not None else None


def get_scheduled_start_time() -> datetime:
    """When the run was created (it starts at once in-process); now, outside any run."""
    run = _flow_run()
    if run is None or not run.state_history:
        return datetime.now(timezone.utc)
    return run.state_history[0].timestamp


def get_root_flow_run_id() -> str | None:
    """The id of the outermost flow run: this one's, unless it runs as a subflow."""
    run_id = get_id()
    run = _flow_run()
    parent = run.parent_flow_run_id if run is not None else None
    while parent is not None:
        run_id = str(parent)
        ancestor = active_flow_run(parent)
        parent = ancestor.parent_flow_run_id if ancestor is not None else None
    return run_id


FIELDS: dict[str, Callable[[], Any]] = {
    "id": get_id,
    "tags": run_field(_flow_run, "tags", [], list),
    "scheduled_start_time": get_scheduled_start_time,
    "name": run_field(_flow_run, "name", None),
    "flow_name": run_field(_flow_run, "flow_name", None),
    "flow_version": get_flow_version,
    "parameters": run_field(_flow_run, "parameters", {}),
    "parent_flow_run_id": run_field(_flow_run, "parent_flow_run_id", None, _optional_id),
    "root_flow_run_id": get_root_flow_run_id,
    "run_count": run_field(_flow_run, "run_count", 0),
}


def __getattr__(name: str) -> Any:
    return read_field("flow_run", FIELDS, name)


def __dir__() -> list[str]:
    return sorted(FIELDS)
