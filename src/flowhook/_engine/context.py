"""The run context: which flow run and task run the current code belongs to."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import attrs

from flowhook_hookspec.errors import MissingContextError
from flowhook_hookspec.runners import TaskRunner
from flowhook_hookspec.runs import FlowRun, TaskRun

if TYPE_CHECKING:
    from .flows import Flow
    from .tasks import Task

__all__ = [
    "FlowRunContext",
    "RunContext",
    "TagsContext",
    "TaskRunContext",
    "flow_context",
    "get_run_context",
    "run_tags",
    "tags",
    "task_context",
]


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

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameters of the innermost run: the task run's, else the flow run's."""
        run = self.task_run if self.task_run is not None else self.flow_run
        return run.parameters if run is not None else {}


class FlowRunContext(RunContext):
    """The context of a flow run (Prefect's ``prefect.context.FlowRunContext``)."""

    __slots__ = ()

    @classmethod
    def get(cls) -> FlowRunContext | None:
        """The flow run in progress, also from inside one of its task runs; None outside any."""
        context = current.get()
        if context is None or context.flow_run is None:
            return None
        if type(context) is FlowRunContext:
            return context
        return FlowRunContext(context.flow, context.flow_run, scope=context.scope)

    @property
    def parameters(self) -> dict[str, Any]:
        """The flow run's parameters."""
        return self.flow_run.parameters if self.flow_run is not None else {}

    @property
    def task_runner(self) -> TaskRunner | None:
        """The task runner of the flow run, where ``submit`` and ``map`` send task runs."""
        return self.scope.task_runner if self.scope is not None else None


class TaskRunContext(RunContext):
    """The context of a task run (Prefect's ``prefect.context.TaskRunContext``); ``flow`` and
    ``flow_run`` are those of the flow run it belongs to, None for a task called alone."""

    __slots__ = ()

    @classmethod
    def get(cls) -> TaskRunContext | None:
        """The task run in progress, or None outside any task run."""
        context = current.get()
        return context if isinstance(context, TaskRunContext) else None


current: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar(
    "flowhook_run_context", default=None
)


def get_run_context() -> FlowRunContext | TaskRunContext:
    """The context of the run in progress, in its body and in every one of its hooks: a
    :class:`TaskRunContext` in a task run, else a :class:`FlowRunContext`.

    Raises :class:`~flowhook_hookspec.errors.MissingContextError` outside any run.
    """
    context = current.get()
    if context is None:
        raise MissingContextError(
            "there is no flow or task run here: get_run_context() works inside a flow or task "
            "body, or in one of their hooks"
        )
    return cast("FlowRunContext | TaskRunContext", context)


def flow_context(
    flow: Flow[..., Any] | None, flow_run: FlowRun, scope: FlowScope | None = None
) -> FlowRunContext:
    """The context a flow run's body and hooks see."""
    return FlowRunContext(flow, flow_run, scope=scope)


def task_context(
    parent: RunContext | None, task: Task[..., Any] | None, task_run: TaskRun
) -> TaskRunContext:
    """The context a task run's body and hooks see, inside ``parent`` (a flow run's) if any."""
    # tuple.__new__ with every field: what the named tuple's own __new__ (a Python function)
    # would build, one frame fewer on every task run.
    if parent is None:
        return _new_tuple(TaskRunContext, (None, None, task, task_run, None))
    return _new_tuple(TaskRunContext, (parent.flow, parent.flow_run, task, task_run, parent.scope))


_new_tuple = tuple.__new__


@attrs.frozen
class TagsContext:
    """The tags in force here (Prefect's ``prefect.context.TagsContext``)."""

    current_tags: frozenset[str] = frozenset()

    @classmethod
    def get(cls) -> TagsContext:
        """The tags in force; an empty context outside any ``with tags(...)`` block."""
        return _current.get() or _EMPTY


_EMPTY = TagsContext()
_current: contextvars.ContextVar[TagsContext | None] = contextvars.ContextVar(
    "flowhook_tags", default=None
)


@contextlib.contextmanager
def tags(*new_tags: str) -> Iterator[set[str]]:
    """Add ``new_tags`` to the runs created in the block; blocks nest, adding up their tags.

    Yields the set of tags in force inside the block.
    """
    for tag in new_tags:
        if not isinstance(tag, str):
            raise TypeError(f"tags(...) takes strings, e.g. tags('prod'), got {tag!r}")
    in_force = TagsContext.get().current_tags.union(new_tags)
    token = _current.set(TagsContext(in_force))
    try:
        yield set(in_force)
    finally:
        _current.reset(token)


def run_tags(own: tuple[str, ...]) -> tuple[str, ...]:
    """A new run's tags: its flow's or task's own, then those of the enclosing ``tags`` blocks."""
    context = _current.get()
    if context is None:
        return own
    return own + tuple(sorted(context.current_tags.difference(own)))
