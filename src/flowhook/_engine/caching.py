"""Cache policies: when a task run may reuse a stored result.

A policy turns a task run into a *cache key*; a run whose key has a record that has not expired
enters ``Cached`` (a Completed state) with the stored value and does not run its body. Policies
add up: ``INPUTS + TASK_SOURCE`` keys on both. A policy whose key is None does not cache.

``compute_key(task_ctx, inputs, flow_parameters, **kwargs)`` is called by keyword, as Prefect
calls it, so a policy class written for Prefect works unchanged.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from .hashing import HashError, hash_objects, hash_text

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "DEFAULT",
    "FLOW_PARAMETERS",
    "INPUTS",
    "NONE",
    "NO_CACHE",
    "RUN_ID",
    "TASK_SOURCE",
    "CacheKeyFnPolicy",
    "CachePolicy",
    "CompoundCachePolicy",
    "FlowParameters",
    "Inputs",
    "RunId",
    "TaskSource",
]

_SETTINGS = ("key_storage", "isolation_level", "lock_manager")


class KeyRequest(NamedTuple):
    """The arguments of a :meth:`CachePolicy.compute_key` call, for the built-in policies."""

    task_ctx: Any
    inputs: dict[str, Any]
    flow_parameters: dict[str, Any]
    extra: dict[str, Any]  # the keyword arguments Prefect may add


class CachePolicy:
    """Base of cache policies: :meth:`compute_key` returns a key, or None for "do not cache".

    ``key_storage`` (where the policy's records live), ``isolation_level`` (of the task run's
    transaction) and ``lock_manager`` are set with :meth:`configure`.
    """

    key_storage: Any = None
    isolation_level: Any = None
    lock_manager: Any = None

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The run's cache key, or None for "do not cache". Called by keyword, as Prefect calls
        it; a policy of your own overrides it (the built-in ones define ``_key`` instead)."""
        return self._key(KeyRequest(task_ctx, inputs, flow_parameters, kwargs))

    def _key(self, request: KeyRequest) -> str | None:
        raise NotImplementedError(
            f"{type(self).__name__} defines no compute_key(self, task_ctx, inputs, "
            "flow_parameters, **kwargs): a CachePolicy subclass must"
        )

    @classmethod
    def from_cache_key_fn(cls, cache_key_fn: Callable[..., str | None]) -> CacheKeyFnPolicy:
        """The policy of a ``cache_key_fn(context, parameters)``."""
        return CacheKeyFnPolicy(cache_key_fn)

    def configure(
        self,
        key_storage: Any = None,
        lock_manager: Any = None,
        isolation_level: Any = None,
    ) -> Self:
        """A copy with the given settings (those left None keep their current value).

        ``key_storage`` is where the records of a task using this policy are kept when the task
        names no ``result_storage`` (a directory path or a storage object); ``isolation_level``
        (``"READ_COMMITTED"``, ``"SERIALIZABLE"`` or an ``IsolationLevel``) is that of the task
        run's transaction. flowhook locks through the record storage's ``lock(key)``, so
        ``lock_manager`` is refused with the way to do it.
        """
        if lock_manager is not None:
            raise TypeError(
                "flowhook has no lock managers: SERIALIZABLE locks through the record storage "
                "(configure(key_storage=LocalFileSystem(...), isolation_level='SERIALIZABLE'))"
            )
        new = copy.copy(self)
        if key_storage is not None:
            object.__setattr__(new, "key_storage", key_storage)
        if isolation_level is not None:
            object.__setattr__(new, "isolation_level", isolation_level)
        return new

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        if isinstance(other, NoCache):
            return self
        return CompoundCachePolicy([self, other])

    def __sub__(self, name: str) -> CachePolicy:
        """``policy - "name"``: leave parameter ``name`` out of the key (only inputs use them)."""
        _check_parameter_name(name)
        return self


def _check_parameter_name(name: object) -> None:
    if not isinstance(name, str):
        raise TypeError(
            f"only a parameter name can be taken out of a cache policy (INPUTS - 'client'), "
            f"got {name!r}"
        )


def _merged_setting(policies: Iterable[CachePolicy], name: str) -> Any:
    values: list[Any] = []
    for policy in policies:
        value = getattr(policy, name, None)
        if value is not None and value not in values:
            values.append(value)
    if len(values) > 1:
        raise ValueError(f"cannot add cache policies with different {name.replace('_', ' ')}s")
    return values[0] if values else None


def _flatten(policies: Iterable[CachePolicy]) -> tuple[CachePolicy, ...]:
    """The policies of a sum, flat and without duplicates, with every ``Inputs`` merged into
    one that excludes what any of them excluded; ``NO_CACHE`` terms add nothing."""
    flat: list[CachePolicy] = []
    excluded: set[str] = set()
    inputs_at: int | None = None
    for policy in policies:
        for part in policy.policies if isinstance(policy, CompoundCachePolicy) else (policy,):
            if isinstance(part, Inputs):
                inputs_at = len(flat) if inputs_at is None else inputs_at
                excluded.update(part.exclude)
            elif not isinstance(part, NoCache) and part not in flat:
                flat.append(part)
    if inputs_at is not None:
        flat.insert(inputs_at, Inputs(exclude=sorted(excluded)))
    return tuple(flat)


@attrs.frozen(slots=False, repr=False, init=False)
class CompoundCachePolicy(CachePolicy):
    """The sum of policies: one key made of theirs (those that are None are left out).

    Sums are flattened, and their ``Inputs`` merged: ``INPUTS - "a" + Inputs(exclude=["b"])``
    leaves out both ``a`` and ``b``.
    """

    policies: tuple[CachePolicy, ...]

    def __init__(self, policies: Iterable[CachePolicy] = ()) -> None:
        given = list(policies)
        object.__setattr__(self, "policies", _flatten(given))
        for name in _SETTINGS:
            value = _merged_setting(given, name)
            if value is not None:
                object.__setattr__(self, name, value)

    def _key(self, request: KeyRequest) -> str | None:
        keys = [
            policy.compute_key(
                task_ctx=request.task_ctx,
                inputs=request.inputs,
                flow_parameters=request.flow_parameters,
                **request.extra,
            )
            for policy in self.policies
        ]
        present = [key for key in keys if key is not None]
        return hash_text(*present) if present else None

    def __sub__(self, name: str) -> CachePolicy:
        _check_parameter_name(name)
        if not any(isinstance(policy, Inputs) for policy in self.policies):
            return self
        return CompoundCachePolicy([self, Inputs(exclude=[name])])

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.policies))


def _names(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen(slots=False, repr=False)
class Inputs(CachePolicy):
    """Keys on the run's parameters; ``Inputs(exclude=["client"])`` (or ``INPUTS - "client"``)
    leaves some out. A task without parameters gets no key, so it is never cached.

    A parameter that cannot be hashed (a lock, an open file) makes the key fail with a
    ``ValueError`` that says how to leave it out: the run is then not cached.
    """

    exclude: tuple[str, ...] = attrs.field(default=(), converter=_names)

    def _key(self, request: KeyRequest) -> str | None:
        if not request.inputs:
            return None
        kept = {name: value for name, value in request.inputs.items() if name not in self.exclude}
        try:
            return hash_objects(kept, raise_on_failure=True)
        except HashError as exc:
            names = ", ".join(repr(name) for name in _unhashable(kept))
            raise ValueError(
                f"parameter {names} cannot be part of a cache key: {exc}. Leave it out "
                f"(cache_policy=INPUTS - {names.split(', ')[0]}), give the task a cache_key_fn, "
                "or turn caching off (cache_policy=NO_CACHE)"
            ) from exc

    def __sub__(self, name: str) -> CachePolicy:
        _check_parameter_name(name)
        new = copy.copy(self)
        object.__setattr__(new, "exclude", (*self.exclude, name))
        return new

    def __repr__(self) -> str:
        return f"Inputs(exclude={list(self.exclude)!r})" if self.exclude else "INPUTS"


def _unhashable(values: Mapping[str, Any]) -> list[str]:
    names = [name for name, value in values.items() if hash_objects(value) is None]
    return names or list(values)


@attrs.frozen(slots=False, repr=False)
class TaskSource(CachePolicy):
    """Keys on the task function's source code: editing the function invalidates the cache."""

    def _key(self, request: KeyRequest) -> str | None:
        task = getattr(request.task_ctx, "task", None)
        if task is None:
            return None
        fn = task.fn
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            code = getattr(fn, "__code__", None)
            if code is None:
                return None  # no source and no code: nothing stable to key on
            source = code.co_code.hex()
        return hash_text(source)

    def __repr__(self) -> str:
        return "TASK_SOURCE"


@attrs.frozen(slots=False, repr=False)
class FlowParameters(CachePolicy):
    """Keys on the parameters of the flow run the task runs in (no key outside a flow, or for
    a flow without parameters)."""

    def _key(self, request: KeyRequest) -> str | None:
        if not request.flow_parameters:
            return None
        return hash_objects(request.flow_parameters, raise_on_failure=True)

    def __repr__(self) -> str:
        return "FLOW_PARAMETERS"


@attrs.frozen(slots=False, repr=False)
class RunId(CachePolicy):
    """Keys on the flow run: runs of one flow run share results, other flow runs do not."""

    def _key(self, request: KeyRequest) -> str | None:
        task_run = getattr(request.task_ctx, "task_run", None)
        if task_run is None:
            return None
        run_id = task_run.flow_run_id or task_run.id
        return str(run_id.hex)

    def __repr__(self) -> str:
        return "RUN_ID"


@attrs.frozen(slots=False, repr=False)
class NoCache(CachePolicy):
    """Never caches (the result may still be persisted). ``NO_CACHE + policy`` is ``policy``."""

    def _key(self, request: KeyRequest) -> str | None:
        return None

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        return other

    def __repr__(self) -> str:
        return "NO_CACHE"


@attrs.frozen(slots=False, repr=False)
class CacheKeyFnPolicy(CachePolicy):
    """A ``cache_key_fn(context, parameters) -> str | None``, as a policy."""

    cache_key_fn: Callable[..., str | None] | None = None

    def _key(self, request: KeyRequest) -> str | None:
        if self.cache_key_fn is None:
            return None
        key = self.cache_key_fn(request.task_ctx, dict(request.inputs))
        if key is not None and not isinstance(key, str):
            raise TypeError(f"cache_key_fn must return a str or None, got {type(key).__name__}")
        return key

    def __repr__(self) -> str:
        return f"cache_key_fn={getattr(self.cache_key_fn, '__name__', self.cache_key_fn)!r}"


INPUTS = Inputs()
TASK_SOURCE = TaskSource()
FLOW_PARAMETERS = FlowParameters()
RUN_ID = RunId()
NO_CACHE = NoCache()
NONE = NO_CACHE
DEFAULT = INPUTS + TASK_SOURCE + RUN_ID
