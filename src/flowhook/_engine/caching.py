"""Cache policies, and a task's result settings: when a task run may reuse a stored result.

A policy turns a task run into a *cache key*; a run whose key has a record that has not expired
enters ``Cached`` (a Completed state) with the stored value and does not run its body. Policies
add up: ``INPUTS + TASK_SOURCE`` keys on both. A policy whose key is None does not cache.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .result_home import default_storage
from .results import ResultStorage, Serializer, resolve_serializer, resolve_storage

if TYPE_CHECKING:
    from .context import RunContext

__all__ = [
    "DEFAULT",
    "INPUTS",
    "NO_CACHE",
    "RUN_ID",
    "TASK_SOURCE",
    "CachePolicy",
    "CompoundCachePolicy",
    "Inputs",
    "ResultSettings",
    "hash_text",
    "hash_value",
    "result_settings",
]

logger = logging.getLogger("flowhook.caching")


def hash_text(*parts: str) -> str:
    import hashlib  # here, not at import: most programs never make a cache key

    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def hash_value(value: Any) -> str:
    """A stable hash of a value: its JSON when it has one, else its cloudpickle bytes."""
    import hashlib
    import json

    try:
        return hash_text(json.dumps(value, sort_keys=True, default=repr, allow_nan=True))
    except (TypeError, ValueError):
        import cloudpickle  # type: ignore[import-untyped]

        return hashlib.sha256(cloudpickle.dumps(value)).hexdigest()[:32]


class CachePolicy:
    """Base of cache policies: :meth:`compute_key` returns a key, or None for "do not cache"."""

    def compute_key(self, context: RunContext, inputs: Mapping[str, Any]) -> str | None:
        raise NotImplementedError

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        mine = self.policies if isinstance(self, CompoundCachePolicy) else (self,)
        theirs = other.policies if isinstance(other, CompoundCachePolicy) else (other,)
        return CompoundCachePolicy(tuple(dict.fromkeys((*mine, *theirs))))


@attrs.frozen(repr=False)
class CompoundCachePolicy(CachePolicy):
    """The sum of policies: one key made of theirs (those that are None are left out)."""

    policies: tuple[CachePolicy, ...]

    def compute_key(self, context: RunContext, inputs: Mapping[str, Any]) -> str | None:
        keys = [policy.compute_key(context, inputs) for policy in self.policies]
        present = [key for key in keys if key is not None]
        return hash_text(*present) if present else None

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.policies))


@attrs.frozen(repr=False)
class Inputs(CachePolicy):
    """Keys on the run's parameters; ``Inputs(exclude=["client"])`` leaves some out."""

    exclude: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def compute_key(self, context: RunContext, inputs: Mapping[str, Any]) -> str | None:
        kept = {name: value for name, value in inputs.items() if name not in self.exclude}
        return hash_value(kept)

    def __repr__(self) -> str:
        return f"Inputs(exclude={list(self.exclude)!r})" if self.exclude else "INPUTS"


@attrs.frozen(repr=False)
class TaskSource(CachePolicy):
    """Keys on the task function's source code: editing the function invalidates the cache."""

    def compute_key(self, context: RunContext, inputs: Mapping[str, Any]) -> str | None:
        if context.task is None:
            return None
        fn = context.task.fn
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            code = getattr(fn, "__code__", None)
            source = repr(code.co_code) if code is not None else repr(fn)
        return hash_text(source)

    def __repr__(self) -> str:
        return "TASK_SOURCE"


@attrs.frozen(repr=False)
class RunId(CachePolicy):
    """Keys on the flow run: runs of one flow run share results, other flow runs do not."""

    def compute_key(self, context: RunContext, inputs: Mapping[str, Any]) -> str | None:
        if context.flow_run is not None:
            return context.flow_run.id.hex
        return context.task_run.id.hex if context.task_run is not None else None

    def __repr__(self) -> str:
        return "RUN_ID"


@attrs.frozen(repr=False)
class NoCache(CachePolicy):
    """Never caches (the result may still be persisted)."""

    def compute_key(self, context: RunContext, inputs: Mapping[str, Any]) -> str | None:
        return None

    def __repr__(self) -> str:
        return "NO_CACHE"


@attrs.frozen(repr=False)
class KeyFunction(CachePolicy):
    """A ``cache_key_fn(context, parameters) -> str | None``, as a policy."""

    fn: Callable[[Any, dict[str, Any]], str | None]

    def compute_key(self, context: RunContext, inputs: Mapping[str, Any]) -> str | None:
        key = self.fn(context, dict(inputs))
        if key is not None and not isinstance(key, str):
            raise TypeError(f"cache_key_fn must return a str or None, got {type(key).__name__}")
        return key

    def __repr__(self) -> str:
        return f"cache_key_fn={getattr(self.fn, '__name__', self.fn)!r}"


INPUTS = Inputs()
TASK_SOURCE = TaskSource()
RUN_ID = RunId()
NO_CACHE = NoCache()
DEFAULT = INPUTS + TASK_SOURCE + RUN_ID


def _lifetime(value: timedelta | float | None) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"cache_expiration takes a timedelta or a number of seconds, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"cache_expiration must be positive, got {value!r}")
    return timedelta(seconds=seconds)


@attrs.frozen
class ResultSettings:
    """What a task that persists its results does with them (None on a task that does not)."""

    policy: CachePolicy
    serializer: Serializer
    storage: ResultStorage | None  # None: the default storage, resolved at each run
    lifetime: timedelta | None
    refresh: bool

    def cache_key(self, context: RunContext, inputs: Mapping[str, Any]) -> str | None:
        """The run's cache key, or None when it must not use the cache (the reason is logged)."""
        try:
            return self.policy.compute_key(context, inputs)
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


def result_settings(
    *,
    persist_result: bool | None,
    result_storage: Any,
    result_serializer: Any,
    cache_policy: CachePolicy | None,
    cache_key_fn: Callable[..., Any] | None,
    cache_expiration: timedelta | float | None,
    refresh_cache: bool | None,
) -> ResultSettings | None:
    """Check a task's result options; None when the task neither persists nor caches.

    As in Prefect, naming a storage, a serializer, a cache policy or a key function turns
    persistence on unless ``persist_result=False`` says otherwise.
    """
    if cache_policy is not None and not isinstance(cache_policy, CachePolicy):
        raise TypeError(
            "cache_policy takes a policy such as INPUTS, TASK_SOURCE, RUN_ID or NO_CACHE "
            f"(from flowhook.cache_policies), or their sum, got {cache_policy!r}"
        )
    if cache_key_fn is not None and not callable(cache_key_fn):
        raise TypeError(
            f"cache_key_fn takes a function (context, parameters), got {cache_key_fn!r}"
        )
    storage = resolve_storage(result_storage)
    serializer = resolve_serializer(result_serializer)
    lifetime = _lifetime(cache_expiration)
    if persist_result is None:
        asked = (result_storage, result_serializer, cache_key_fn, cache_expiration)
        persist_result = any(option is not None for option in asked) or (
            cache_policy is not None and not isinstance(cache_policy, NoCache)
        )
    if not persist_result:
        return None
    policy = KeyFunction(cache_key_fn) if cache_key_fn is not None else cache_policy or DEFAULT
    return ResultSettings(policy, serializer, storage, lifetime, bool(refresh_cache))
