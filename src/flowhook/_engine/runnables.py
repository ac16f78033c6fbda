"""What flows and tasks share: options, validation, state hooks and ``with_options``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, ParamSpec, TypeVar

import attrs

from .defaults import default_retries, default_retry_delay_seconds
from .parameters import coercions, positional_names, resolve_type_hints
from .retries import RetryDelay, validate_retry_delay
from .state_hooks import validate_hook, validate_hook_list

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from .options import CommonOptions

P = ParamSpec("P")
R = TypeVar("R")
HookT = TypeVar("HookT", bound=Callable[..., Any])

StateHook = Callable[..., Any]


#: The attribute holding each event's hook list: ``on_<event>_hooks``.
HOOK_ATTRIBUTES = {
    event: f"on_{event}_hooks"
    for event in (
        "running",
        "retry",
        "completion",
        "failure",
        "cancellation",
        "crashed",
        "commit",
        "rollback",
    )
}


def hooks_field(event: str, arguments: tuple[str, ...] | None = None) -> Any:
    """An ``on_<event>`` hook list field; hooks take ``arguments`` (default: the state-hook ones)."""

    def convert(value: Any, self: Runnable[..., Any]) -> list[StateHook]:
        expected = self._hook_arguments if arguments is None else arguments
        return validate_hook_list(value, f"on_{event}", self._subject, expected)

    return attrs.field(
        alias=f"on_{event}",
        factory=list,
        converter=attrs.Converter(convert, takes_self=True),  # type: ignore[call-overload]
        kw_only=True,
    )


def _to_tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"tags takes a list of strings, e.g. tags=['prod'], got {value!r}")
    tags = tuple(value)
    for tag in tags:
        if not isinstance(tag, str):
            raise TypeError(f"tags must be strings, got {type(tag).__name__} {tag!r}")
    return tags


def _check_retries(_: Any, __: Any, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"retries takes a whole number >= 0, got {value!r}")


def _to_timeout(value: Any) -> float | None:
    """``timeout_seconds``: None or 0 mean no time limit, as in Prefect; negative is an error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(
            f"timeout_seconds takes a number of seconds >= 0 (0 or None: no limit), got {value!r}"
        )
    return value or None


def _check_jitter(_: Any, __: Any, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"retry_jitter_factor takes a number >= 0, got {value!r}")


def _check_condition(instance: Runnable[..., Any], _: Any, value: Any) -> None:
    if value is not None:
        validate_hook(value, "retry_condition_fn", instance._subject, instance._hook_arguments)


@attrs.define(eq=False, slots=False, repr=False)
class Runnable(Generic[P, R]):
    """Base of :class:`~flowhook.Flow` and :class:`~flowhook.Task`."""

    _subject: ClassVar[str] = ""
    _hook_arguments: ClassVar[tuple[str, ...]] = ()
    _options: ClassVar[frozenset[str] | None] = None  # each subclass's own, see _option_names

    fn: Callable[P, R]
    name: str = attrs.field(
        kw_only=True,
        default=attrs.Factory(lambda self: self._default_name(self.fn), takes_self=True),
    )
    description: str | None = attrs.field(default=None, kw_only=True)
    version: str | None = attrs.field(default=None, kw_only=True)
    tags: tuple[str, ...] = attrs.field(default=(), converter=_to_tags, kw_only=True)
    retries: int = attrs.field(
        default=attrs.Factory(lambda self: default_retries(self._subject), takes_self=True),
        validator=_check_retries,
        kw_only=True,
    )
    retry_delay_seconds: RetryDelay = attrs.field(
        default=attrs.Factory(
            lambda self: default_retry_delay_seconds(self._subject), takes_self=True
        ),
        converter=validate_retry_delay,
        kw_only=True,
    )
    timeout_seconds: float | None = attrs.field(default=None, converter=_to_timeout, kw_only=True)
    validate_parameters: bool = attrs.field(default=True, kw_only=True)
    #: print() in the body becomes an INFO record of the run logger; None: as the parent run.
    log_prints: bool | None = attrs.field(default=None, kw_only=True)
    retry_jitter_factor: float = attrs.field(default=0.0, validator=_check_jitter, kw_only=True)
    retry_condition_fn: Callable[..., Any] | None = attrs.field(
        default=None, validator=_check_condition, kw_only=True
    )
    on_running_hooks: list[StateHook] = hooks_field("running")
    on_retry_hooks: list[StateHook] = hooks_field("retry")
    on_completion_hooks: list[StateHook] = hooks_field("completion")
    on_failure_hooks: list[StateHook] = hooks_field("failure")
    on_cancellation_hooks: list[StateHook] = hooks_field("cancellation")
    on_crashed_hooks: list[StateHook] = hooks_field("crashed")

    def __attrs_post_init__(self) -> None:
        if not callable(self.fn):
            raise TypeError(f"@{self._subject} decorates a function, got {type(self.fn).__name__}")
        if inspect.isasyncgenfunction(self.fn) or inspect.isgeneratorfunction(self.fn):
            raise TypeError(
                f"@{self._subject} decorates a function that returns a value; "
                f"{self.fn.__name__!r} is a generator"
            )
        #: Whether the body is ``async def``: its calls return coroutines to await.
        self.is_async = inspect.iscoroutinefunction(self.fn)
        functools.update_wrapper(self, self.fn)  # type: ignore[arg-type]
        self.signature = inspect.signature(self.fn)
        self.positional_names = positional_names(self.signature)
        self._type_hints: dict[str, Any] | None = None

    @staticmethod
    def _default_name(fn: Callable[..., Any]) -> str:
        return getattr(fn, "__name__", type(fn).__name__)

    @property
    def type_hints(self) -> dict[str, Any]:
        """The parameters' type hints, resolved on first use (forward references may need it)."""
        if self._type_hints is None:
            self._type_hints = resolve_type_hints(self.fn)
        return self._type_hints

    @functools.cached_property
    def coercions(self) -> tuple[tuple[str, Any], ...]:
        """The ``(name, hint)`` pairs a call's arguments are converted by, resolved on first use
        (see :func:`~.parameters.coercions`); once resolved, read without a call on every run."""
        return coercions(self.signature, self.type_hints)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, fn={getattr(self.fn, '__qualname__', self.fn)!r})"

    def with_options(self, **options: Unpack[CommonOptions]) -> Self:
        """A copy with some options changed. Hook lists are copied; a new list replaces the old one."""
        return self._copy_with(options)

    @classmethod
    def check_options(cls, options: Mapping[str, Any], where: str) -> None:
        """``TypeError`` naming the first unknown option of ``where`` (``@task``,
        ``with_options``), with the closest known one: ``retires`` gets "did you mean 'retries'?"."""
        known = cls._option_names()
        for option in options:
            if option not in known:
                from .._config import did_you_mean  # only on the error path: it loads tomllib

                hint = did_you_mean(option, known) or f"; its options: {', '.join(sorted(known))}"
                raise TypeError(f"{where} got an unknown option {option!r}{hint}")

    @classmethod
    def _option_names(cls) -> frozenset[str]:
        names: frozenset[str] | None = cls.__dict__.get("_options")
        if names is None:
            names = frozenset(
                field.alias for field in attrs.fields(cls) if field.init and field.name != "fn"
            )
            cls._options = names
        return names

    def _copy_with(self, options: Mapping[str, Any]) -> Self:
        self.check_options(options, f"{self.name}.with_options()")
        changes: dict[str, Any] = dict(options)
        return attrs.evolve(self, **changes)

    def _hook_list(self, event: str) -> list[StateHook]:
        hooks: list[StateHook] = getattr(self, HOOK_ATTRIBUTES[event])
        return hooks

    def _add_hook(self, event: str, hook: HookT, arguments: tuple[str, ...] | None = None) -> HookT:
        expected = self._hook_arguments if arguments is None else arguments
        validate_hook(hook, f"on_{event}", self._subject, expected)
        self._hook_list(event).append(hook)
        return hook

    def on_running(self, hook: HookT) -> HookT:
        """Add a hook called on each attempt: ``Running``, then ``Retrying``."""
        return self._add_hook("running", hook)

    def on_retry(self, hook: HookT) -> HookT:
        """Add a hook called when a failed attempt will be retried (``AwaitingRetry``)."""
        return self._add_hook("retry", hook)

    def on_completion(self, hook: HookT) -> HookT:
        """Add a hook called when a run completes."""
        return self._add_hook("completion", hook)

    def on_failure(self, hook: HookT) -> HookT:
        """Add a hook called when a run fails for good (never on a failure that is retried)."""
        return self._add_hook("failure", hook)

    def on_cancellation(self, hook: HookT) -> HookT:
        """Add a hook called when a run enters ``Cancelling``."""
        return self._add_hook("cancellation", hook)

    def on_crashed(self, hook: HookT) -> HookT:
        """Add a hook called when a run crashes (interrupted from outside its code)."""
        return self._add_hook("crashed", hook)
