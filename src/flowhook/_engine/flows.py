"""Flows: the ``@flow`` decorator and the :class:`Flow` it makes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, overload

import attrs

from flowhook_hookspec.lazy import defer_modules

from .naming import check_run_name_template
from .runnables import P, R, Runnable

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from flowhook_hookspec.runners import TaskRunner

    from . import calls
    from .options import FlowOptions
    from .persisted import FlowResultOptions
else:  # the machinery of a run loads with the first run, not with ``import flowhook``
    defer_modules(globals(), ".calls", package=__package__)

__all__ = ["Flow", "flow"]


def _check_runner(_: Any, __: Any, value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    from flowhook_hookspec.runners import TaskRunner  # only for a flow that names a runner

    if not isinstance(value, TaskRunner):
        raise TypeError(
            "task_runner takes a task runner such as flowhook.ThreadPoolTaskRunner(max_workers=8), "
            f"or a registered name such as 'dask', got {type(value).__name__}"
        )


@attrs.define(eq=False, slots=False, repr=False)
class Flow(Runnable[P, R]):
    """A function whose every call is a flow run, with states, retries and hooks.

    Make one with :func:`flow`. Calling it runs the function and returns its result (or raises
    its exception); ``my_flow(..., return_state=True)`` returns the final
    :class:`~flowhook.State` instead and never raises for a failed run.
    """

    _subject: ClassVar[str] = "flow"
    _hook_arguments: ClassVar[tuple[str, ...]] = ("flow", "flow_run", "state")

    flow_run_name: str | Callable[..., str] | None = attrs.field(default=None, kw_only=True)
    #: Runs the tasks this flow submits; a new ThreadPoolTaskRunner per flow run when None. A
    #: name (``"dask"``) makes a new runner of the type a plugin registered, per flow run.
    task_runner: TaskRunner | str | None = attrs.field(
        default=None, kw_only=True, validator=_check_runner
    )

    # The result options as given; `persist_result` as resolved is a property. They are also
    # the defaults of the tasks that run in the flow (see _engine/persisted.py).
    _persist_result_option: bool | None = attrs.field(
        default=None, kw_only=True, alias="persist_result"
    )
    result_storage: Any = attrs.field(default=None, kw_only=True)
    result_serializer: Any = attrs.field(default=None, kw_only=True)
    #: False: once its record is written, the run's state holds a reference to it, not the value.
    cache_result_in_memory: bool = attrs.field(
        default=True, kw_only=True, validator=attrs.validators.instance_of(bool)
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        check_run_name_template(self.flow_run_name, "flow_run_name", self.signature.parameters)
        self.result_options: FlowResultOptions | None = None
        if any(
            option is not None
            for option in (self._persist_result_option, self.result_storage, self.result_serializer)
        ):
            from .persisted import flow_result_options  # only a flow that keeps results needs it

            self.result_options = flow_result_options(
                self._persist_result_option, self.result_storage, self.result_serializer
            )

    @property
    def persist_result(self) -> bool | None:
        """True when the flow persists its result (asked for, or turned on by naming a storage
        or a serializer), False when told not to, None when nothing was said."""
        return None if self.result_options is None else self.result_options.persist_result

    @staticmethod
    def _default_name(fn: Callable[..., Any]) -> str:
        return getattr(fn, "__name__", type(fn).__name__).replace("_", "-")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the flow. ``return_state=True`` returns the final state instead of the result.

        Calling an ``async def`` flow returns a coroutine to await.
        """
        if self.is_async:
            return calls.run_flow_async(self, args, kwargs)
        return calls.run_flow(self, args, kwargs)

    def with_options(self, **options: Unpack[FlowOptions]) -> Self:
        """A copy with some options changed. Hook lists are copied; ``[]`` clears one."""
        return self._copy_with(options)


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...


@overload
def flow(**options: Unpack[FlowOptions]) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(fn: Callable[P, R] | None = None, /, **options: Unpack[FlowOptions]) -> Any:
    """Make a function a flow. Use bare (``@flow``) or with options (``@flow(retries=2)``).

    Options: ``name``, ``description``, ``version``, ``tags``, ``retries``,
    ``retry_delay_seconds``, ``timeout_seconds``, ``flow_run_name`` (a format string over the
    parameters, or a callable), ``validate_parameters``, and the state hooks ``on_running``,
    ``on_retry``, ``on_completion``, ``on_failure``, ``on_cancellation``, ``on_crashed``
    (lists of ``hook(flow, flow_run, state)``).
    """
    Flow.check_options(options, "@flow")
    settings: dict[str, Any] = dict(options)
    if fn is None:
        return lambda fn: Flow(fn, **settings)
    return Flow(fn, **settings)
