"""The run context: which flow run and task run the current code belongs to."""

from __future__ import annotations

import contextvars
import threading
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from flowhook_hookspec.errors import MissingContextError
from flowhook_hookspec.runners import TaskRunner
from flowhook_hookspec.runs import FlowRun, TaskRun

if TYPE_CHECKING:
    from .flows import Flow
    from .tasks import Task

__all__ = ["RunContext", "get_run_context"]


@attrs.define(eq=False)
class FlowScope:
    """What a flow run shares with its task runs: the task runner, the futures submitted to it,
    and cancellation. ``lock`` serialises the flow run's transitions with ``cancel_flow_run``."""

    task_runner: TaskRunner
    futures: list[Any] = attrs.field(factory=list)
    lock: threading.RLock = attrs.field(factory=threading.RLock)
    cancel_event: threading.Event = attrs.field(factory=threading.Event)
    #: The pauses the flow run made (see :mod:`.pausing`), once it made one.
    pauses: Any = None


class RunContext(NamedTuple):
    """What is running: ``flow``/``flow_run`` inside a flow run, plus ``task``/``task_run`` in a task run.

    A task called outside any flow has ``flow`` and ``flow_run`` set to ``None``.
    """

    flow: Flow[..., Any] | None = None
    flow_run: FlowRun | None = None
    task: Task[..., Any] | None = None
    task_run: TaskRun | None = None
    scope: FlowScope | None = None


current: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar(
    "flowhook_run_context", default=None
)


def get_run_context() -> RunContext:
    """The context of the run in progress, in its body and in every one of its hooks.

    Raises :class:`~flowhook_hookspec.errors.MissingContextError` outside any run.
    """
    context = current.get()
    if context is None:
        raise MissingContextError(
            "there is no flow or task run here: get_run_context() works inside a flow or task "
            "body, or in one of their hooks"
        )
    return context
