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

from .._engine import FlowRunContext, TaskRunContext, active_flow_run
from ._fields import read_field

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


def _context() -> FlowRunContext | None:
    return FlowRunContext.get()


def get_id() -> str | None:
    """The flow run's id; in a task run called outside any flow, None."""
    context = _context()
    if context is not None and context.flow_run is not None:
        return str(context.flow_run.id)
    task_context = TaskRunContext.get()
    if task_context is not None and task_context.task_run is not None:
        flow_run_id = task_context.task_run.flow_run_id
        return str(flow_run_id) if flow_run_id is not None else None
    return None


def _flow_run_field(name: str, default: Any) -> Callable[[], Any]:
    def read() -> Any:
        context = _context()
        return getattr(context.flow_run, name) if context is not None else default

    read.__name__ = f"get_{name}"
    return read


def get_tags() -> list[str]:
    """The flow run's tags."""
    context = _context()
    return list(context.flow_run.tags) if context is not None and context.flow_run else []


def get_flow_name() -> str | None:
    """The name of the flow."""
    context = _context()
    return context.flow_run.flow_name if context is not None and context.flow_run else None


def get_flow_version() -> str | None:
    """The flow's ``version`` option."""
    context = _context()
    flow = context.flow if context is not None else None
    return getattr(flow, "version", None)


def get_scheduled_start_time() -> datetime:
    """When the run was created (it starts at once in-process); now, outside any run."""
    context = _context()
    if context is None or context.flow_run is None or not context.flow_run.state_history:
        return datetime.now(timezone.utc)
    return context.flow_run.state_history[0].timestamp


def get_parameters() -> dict[str, Any]:
    """The flow run's parameters, as the flow received them."""
    context = _context()
    return context.parameters if context is not None else {}


def get_parent_flow_run_id() -> str | None:
    """The id of the flow run this one runs in as a subflow, else None."""
    context = _context()
    parent = context.flow_run.parent_flow_run_id if context and context.flow_run else None
    return str(parent) if parent is not None else None


def get_root_flow_run_id() -> str | None:
    """The id of the outermost flow run: this one's, unless it runs as a subflow."""
    run_id = get_id()
    parent = get_parent_flow_run_id()
    while parent is not None:
        run_id = parent
        run = active_flow_run(uuid.UUID(parent))
        parent_id = run.parent_flow_run_id if run is not None else None
        parent = str(parent_id) if parent_id is not None else None
    return run_id


FIELDS: dict[str, Callable[[], Any]] = {
    "id": get_id,
    "tags": get_tags,
    "scheduled_start_time": get_scheduled_start_time,
    "name": _flow_run_field("name", None),
    "flow_name": get_flow_name,
    "flow_version": get_flow_version,
    "parameters": get_parameters,
    "parent_flow_run_id": get_parent_flow_run_id,
    "root_flow_run_id": get_root_flow_run_id,
    "run_count": _flow_run_field("run_count", 0),
}


def __getattr__(name: str) -> Any:
    return read_field("flow_run", FIELDS, name)


def __dir__() -> list[str]:
    return sorted(FIELDS)
