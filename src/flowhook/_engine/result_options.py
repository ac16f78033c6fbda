"""A task's result options, resolved as Prefect resolves them: what it persists, how it caches.

:func:`resolve_result_options` runs once, when the task is made; the engine then reads only
:attr:`ResolvedResultOptions.settings`, which is None for a task that keeps no result (so a plain
task never touches a result storage, nor imports this module's dependencies).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .caching import DEFAULT, NO_CACHE, CacheKeyFnPolicy, CachePolicy
from .result_home import default_storage
from .results import ResultStorage, Serializer, resolve_serializer, resolve_storage

if TYPE_CHECKING:
    from .context import RunContext
    from .transactions import IsolationLevel

__all__ = ["ResolvedResultOptions", "ResultSettings", "resolve_result_options"]

logger = logging.getLogger("flowhook.caching")


@attrs.frozen
class ResultSettings:
    """What a task that persists its results does with them."""

    policy: CachePolicy | None  # None: the key is the task's result_storage_key
    serializer: Serializer
    storage: ResultStorage | None  # None: the default storage, resolved at each run
    lifetime: timedelta | None
    refresh: bool
    storage_key: str | None = None
    isolation_level: IsolationLevel | None = None

    def cache_key(self, context: RunContext, inputs: Mapping[str, Any]) -> str | None:
        """The run's cache key, or None when it must not use the cache (the reason is logged)."""
        try:
            if self.policy is None:
                return fill_storage_key(self.storage_key or "", context, inputs)
            flow_run = context.flow_run
            return self.policy.compute_key(
                task_ctx=context,
                inputs=dict(inputs),
                flow_parameters=dict(flow_run.parameters) if flow_run is not None else {},
            )
        except Exception as exc:
            name = context.task_run.name if context.task_run is not None else "?"
            logger.warning(
                "task run %r is not cached: its cache key could not be computed (%s: %s)",
                name,
                type(exc).__name__,
                exc,
            )
            return None

    def result_storage(self) -> ResultStorage:
        return self.storage if self.storage is not None else default_storage()


_STORAGE_KEY_FIELDS = ("parameters", "flow_run", "task_run")


def fill_storage_key(template: str, context: RunContext, inputs: Mapping[str, Any]) -> str:
    """``result_storage_key`` filled in: ``{parameters[x]}``, ``{flow_run.id}``, ``{task_run.name}``."""
    fields = {
        "parameters": dict(inputs),
        "flow_run": context.flow_run,
        "task_run": context.task_run,
    }
    return template.format(**fields)


def check_storage_key(template: str, task_name: str, parameters: Iterable[str]) -> None:
    """``ValueError`` naming what a ``result_storage_key`` template uses that it cannot."""
    import string

    known = list(parameters)
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(
            f"result_storage_key {template!r} is not a valid template ({exc})"
        ) from None
    for name in names:
        root, _, rest = name.partition("[")
        root = root.split(".")[0]
        if root not in _STORAGE_KEY_FIELDS:
            raise ValueError(
                f"result_storage_key {template!r}: {root!r} is not a field it can use; it can use "
                "{parameters[NAME]}, {flow_run.FIELD} and {task_run.FIELD}"
            )
        parameter = rest.split("]")[0]
        if root == "parameters" and rest and parameter not in known:
            raise ValueError(
                f"result_storage_key {template!r}: {parameter!r} is not a parameter of "
                f"{task_name}; its parameters: {', '.join(known) or 'none'}"
            )


@attrs.frozen
class ResolvedResultOptions:
    """A task's result options after resolution: ``cache_policy`` and ``persist_result`` as the
    task shows them, and the settings the engine uses (None: nothing is kept)."""

    cache_policy: CachePolicy | None
    persist_result: bool | None
    settings: ResultSettings | None


def resolve_result_options(
    task_name: str,
    parameters: Iterable[str],
    *,
    persist_result: bool | None,
    result_storage: Any,
    result_serializer: Any,
    result_storage_key: str | None,
    cache_policy: Any,
    cache_key_fn: Callable[..., Any] | None,
    cache_expiration: timedelta | float | None,
    refresh_cache: bool | None,
) -> ResolvedResultOptions:
    """Check a task's result options and resolve them as Prefect 3 does.

    Naming a cache policy (other than ``NO_CACHE``), a key function, a storage key, a storage
    or a serializer turns persistence on unless ``persist_result=False`` says otherwise;
    ``cache_expiration`` alone does not. ``persist_result=False`` makes the policy ``NO_CACHE``.
    """
    policy = _check_policy(cache_policy)
    if cache_key_fn is not None and not callable(cache_key_fn):
        raise TypeError(
            f"cache_key_fn takes a function (context, parameters), got {cache_key_fn!r}"
        )
    if result_storage_key is not None:
        if not isinstance(result_storage_key, str):
            raise TypeError(f"result_storage_key takes a str template, got {result_storage_key!r}")
        check_storage_key(result_storage_key, task_name, parameters)
    if policy is not None and cache_key_fn is not None:
        logger.warning(
            "both cache_policy and cache_key_fn are set on task %r: cache_key_fn is used",
            task_name,
        )
    if cache_key_fn is not None:
        policy = CacheKeyFnPolicy(cache_key_fn)
    storage = resolve_storage(result_storage)
    serializer = resolve_serializer(result_serializer)
    lifetime = _lifetime(cache_expiration)
    if persist_result is None:
        asked = (cache_key_fn, result_storage_key, result_storage, result_serializer)
        if (policy is not None and policy != NO_CACHE) or any(o is not None for o in asked):
            persist_result = True
    shown = _shown_policy(task_name, policy, persist_result, result_storage_key)
    if not persist_result:
        return ResolvedResultOptions(shown, persist_result, None)
    if storage is None and shown is not None and shown.key_storage is not None:
        storage = resolve_storage(shown.key_storage)
    settings = ResultSettings(
        shown,
        serializer,
        storage,
        lifetime,
        bool(refresh_cache),
        result_storage_key,
        _isolation(shown),
    )
    return ResolvedResultOptions(shown, True, settings)


def _shown_policy(
    task_name: str, policy: CachePolicy | None, persist: bool | None, storage_key: str | None
) -> CachePolicy | None:
    if persist is False:
        if policy is not None and policy != NO_CACHE:
            logger.warning(
                "task %r: its cache_policy is ignored because persist_result is False", task_name
            )
        return NO_CACHE
    if policy is None:
        return None if storage_key is not None else DEFAULT
    if storage_key is not None and policy != NO_CACHE:
        return None  # the storage key is the cache key
    return policy


def _check_policy(value: Any) -> CachePolicy | None:
    if value is None or isinstance(value, CachePolicy):
        return value
    if inspect.isclass(value) and issubclass(value, CachePolicy):
        try:
            return value()
        except TypeError:
            raise TypeError(
                f"cache_policy takes a policy instance: {value.__name__} needs arguments, "
                f"so write {value.__name__}(...)"
            ) from None
    raise TypeError(
        "cache_policy takes a policy such as INPUTS, TASK_SOURCE, RUN_ID or NO_CACHE "
        f"(from flowhook.cache_policies), or their sum, got {value!r}"
    )


def _isolation(policy: CachePolicy | None) -> IsolationLevel | None:
    level = None if policy is None else policy.isolation_level
    if level is None:
        return None
    from .transactions import IsolationLevel

    try:
        return IsolationLevel(getattr(level, "value", level))
    except ValueError:
        raise ValueError(
            f"isolation_level takes READ_COMMITTED or SERIALIZABLE, got {level!r}"
        ) from None


def _lifetime(value: timedelta | float | None) -> timedelta | None:
    """``cache_expiration`` as a timedelta; zero or negative is accepted (every call misses)."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise TypeError(f"cache_expiration takes a timedelta or a number of seconds, got {value!r}")
