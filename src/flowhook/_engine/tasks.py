"""Tasks: the ``@task`` decorator and the :class:`Task` it makes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, overload

import attrs

from flowhook_hookspec.lazy import defer_modules

from .naming import check_run_name_template
from .runnables import HookT, P, R, Runnable, StateHook, hooks_field

if TYPE_CHECKING:
    from datetime import timedelta

    from typing_extensions import Self, Unpack

    from . import calls, futures, submission
    from .caching import CachePolicy
    from .futures import TaskRunFuture, TaskRunFutureList
    from .options import TaskOptions
    from .result_options import ResolvedResultOptions, ResultSettings
else:  # the machinery of a run loads with the first run, not with ``import flowhook``
    defer_modules(globals(), ".calls", ".futures", ".submission", package=__package__)

__all__ = ["Task", "task"]

_TRANSACTION_HOOK_ARGUMENTS = ("txn",)
_RESULT_OPTIONS = (
    "persist_result",
    "result_storage",
    "result_serializer",
    "result_storage_key",
    "cache_policy",
    "cache_key_fn",
    "cache_expiration",
    "refresh_cache",
)


_OPTION_ATTRIBUTES = {
    "persist_result": "_persist_result_option",
    "cache_policy": "_cache_policy_option",
}


@attrs.define(eq=False, slots=False, repr=False)
class Task(Runnable[P, R]):
    """A function whose every call is a task run, with states, retries and hooks.

    Called inside a flow, a task run belongs to that flow run; called anywhere else it is a
    standalone task run with its own hooks.
    """

    _subject: ClassVar[str] = "task"
    _hook_arguments: ClassVar[tuple[str, ...]] = ("task", "task_run", "state")

    task_run_name: str | Callable[..., str] | None = attrs.field(default=None, kw_only=True)
    on_commit_hooks: list[StateHook] = hooks_field("commit", _TRANSACTION_HOOK_ARGUMENTS)
    on_rollback_hooks: list[StateHook] = hooks_field("rollback", _TRANSACTION_HOOK_ARGUMENTS)
    # The result options as given; `persist_result` and `cache_policy` as resolved are properties.
    _persist_result_option: bool | None = attrs.field(
        default=None, kw_only=True, alias="persist_result"
    )
    result_storage: Any = attrs.field(default=None, kw_only=True)
    result_serializer: Any = attrs.field(default=None, kw_only=True)
    result_storage_key: str | None = attrs.field(default=None, kw_only=True)
    _cache_policy_option: Any = attrs.field(default=None, kw_only=True, alias="cache_policy")
    #: False: once its record is written, a run's state holds a reference to it, not the value.
    cache_result_in_memory: bool = attrs.field(
        default=True, kw_only=True, validator=attrs.validators.instance_of(bool)
    )
    cache_key_fn: Callable[..., str | None] | None = attrs.field(default=None, kw_only=True)
    cache_expiration: timedelta | float | None = attrs.field(default=None, kw_only=True)
    refresh_cache: bool | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        check_run_name_template(self.task_run_name, "task_run_name", self.signature.parameters)
        self._result_options: ResolvedResultOptions | None = None
        #: What the task does with its results; None (the default) when it neither persists
        #: nor caches them, so that its runs never touch a result storage.
        self.result_settings: ResultSettings | None = None
        options = self.result_option_values()
        if any(value is not None for value in options.values()):
            from .result_options import resolve_result_options  # only for a task keeping results

            self._result_options = resolve_result_options(
                self.name, self.signature.parameters, **options
            )
            self.result_settings = self._result_options.settings

    def result_option_values(self) -> dict[str, Any]:
        """The result options as given (before resolution), by option name."""
        return {name: getattr(self, _OPTION_ATTRIBUTES.get(name, name)) for name in _RESULT_OPTIONS}

    @property
    def cache_policy(self) -> CachePolicy | None:
        """The cache policy in force: ``DEFAULT`` unless one was given; ``NO_CACHE`` with
        ``persist_result=False``; None when ``result_storage_key`` is the key."""
        if self._result_options is None:
            from .caching import DEFAULT

            return DEFAULT
        return self._result_options.cache_policy

    @property
    def persist_result(self) -> bool | None:
        """True when the task persists its results (asked for, or turned on by a result option),
        False when told not to, None when nothing was said."""
        resolved = self._result_options
        return None if resolved is None else resolved.persist_result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task. ``return_state=True`` returns the final state instead of the result.

        An ``async def`` task returns a coroutine to await when an event loop runs in this
        thread (inside an async flow); elsewhere it runs to completion and returns its result.
        """
        if self.is_async and _loop_running():
            return calls.run_task_async(self, args, kwargs)
        return calls.run_task(self, args, kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> TaskRunFuture:
        """Run the task in the flow's task runner; returns a :class:`TaskRunFuture` at once.

        Futures among the arguments are resolved (waited for) before the task starts;
        ``wait_for=[futures]`` orders without passing data. If one of them did not complete,
        the task does not run and ends ``UpstreamFailed`` (a FAILED state).
        """
        return submission.submit_task(self, args, kwargs)

    def map(self, *args: Any, **kwargs: Any) -> TaskRunFutureList:
        """Submit one task run per element of the iterable arguments; returns their futures,
        in a list whose ``result()`` waits for all of them and returns their results.

        Wrap arguments to pass whole to every run in :class:`~flowhook.unmapped`. Every other
        argument must be iterable, and all of the same length.
        """
        wait_for = kwargs.pop("wait_for", None)
        runs = futures.map_arguments(self.name, args, kwargs)
        return futures.TaskRunFutureList(
            submission.submit_task(self, call_args, {**call_kwargs, "wait_for": wait_for})
            for call_args, call_kwargs in runs
        )

    def with_options(self, **options: Unpack[TaskOptions]) -> Self:
        """A copy with some options changed. Hook lists are copied; ``[]`` clears one."""
        return self._copy_with(options)

    @property
    def task_key(self) -> str:
        """A stable name of the task's function: its name and a digest of where it is defined
        (Prefect's ``Task.task_key``, which cache keys such as ``task_input_hash`` use)."""
        import hashlib  # on first use: only cache keys ask for it

        code = getattr(self.fn, "__code__", None)
        where = f"{self.fn.__module__}.{self.fn.__qualname__}:{getattr(code, 'co_filename', '')}"
        digest = hashlib.sha256(where.encode()).hexdigest()[:16]
        return f"{self.fn.__qualname__.split('.')[-1]}-{digest}"

    def on_commit(self, hook: HookT) -> HookT:
        """Add a hook ``hook(txn)`` called when the transaction this task completed in commits."""
        return self._add_hook("commit", hook, _TRANSACTION_HOOK_ARGUMENTS)

    def on_rollback(self, hook: HookT) -> HookT:
        """Add a hook ``hook(txn)`` called when the transaction this task completed in rolls back."""
        return self._add_hook("rollback", hook, _TRANSACTION_HOOK_ARGUMENTS)


def _loop_running() -> bool:
    """Whether an event loop runs in this thread (never true before asyncio is imported)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(**options: Unpack[TaskOptions]) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Callable[P, R] | None = None, /, **options: Unpack[TaskOptions]) -> Any:
    """Make a function a task. Use bare (``@task``) or with options (``@task(retries=3)``).

    Options: those of :func:`~flowhook.flow` (with ``task_run_name`` for ``flow_run_name``), plus
    ``retry_delay_seconds`` as a list or a callable (:func:`~flowhook.exponential_backoff`),
    ``retry_jitter_factor``, ``retry_condition_fn(task, task_run, state) -> bool``, the
    transaction hooks ``on_commit`` and ``on_rollback`` (lists of ``hook(txn)``), and the result
    options ``persist_result``, ``result_storage``, ``result_serializer``, ``cache_policy``,
    ``cache_key_fn``, ``cache_expiration`` and ``refresh_cache`` (see "Results and caching").
    """
    Task.check_options(options, "@task")
    settings: dict[str, Any] = dict(options)
    if fn is None:
        return lambda fn: Task(fn, **settings)
    return Task(fn, **settings)
