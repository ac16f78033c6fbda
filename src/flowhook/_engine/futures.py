"""Futures of submitted task runs, and resolving the futures (and annotations) passed as
arguments."""

from __future__ import annotations

import concurrent.futures
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple
from uuid import UUID

from flowhook_hookspec.errors import MappingLengthMismatch, MappingMissingIterable
from flowhook_hookspec.runs import TaskRun
from flowhook_hookspec.states import RemoteResult, State

from .annotations import BaseAnnotation, allow_failure, opaque, quote, unmapped

__all__ = [
    "BaseAnnotation",
    "DoneAndNotDoneFutures",
    "TaskRunFuture",
    "TaskRunFutureList",
    "allow_failure",
    "as_completed",
    "holds_annotation",
    "may_hold_futures",
    "opaque",
    "quote",
    "resolve_futures_to_results",
    "resolve_futures_to_states",
    "tolerated_futures",
    "unmapped",
    "wait",
]


class TaskRunFuture:
    """The future of one submitted task run."""

    def __init__(
        self, task: Any, task_run: TaskRun, future: concurrent.futures.Future[State]
    ) -> None:
        self.task = task
        self.task_run = task_run
        self._future = future

    def __repr__(self) -> str:
        return f"TaskRunFuture({self.task_run.name!r}, state={self.state.name})"

    def __class_getitem__(cls, item: Any) -> types.GenericAlias:
        """``TaskRunFuture[int]`` (``PrefectFuture[int]`` in Prefect code) in an annotation."""
        return types.GenericAlias(cls, item)

    @property
    def task_run_id(self) -> UUID:
        return self.task_run.id

    @property
    def wrapped_future(self) -> concurrent.futures.Future[State]:
        """The ``concurrent.futures`` future of the run's final state, as Prefect's
        ``PrefectWrappedFuture.wrapped_future``."""
        return self._future

    @property
    def state(self) -> State:
        """The task run's current state (final once :meth:`wait` returned)."""
        return self.task_run.state

    def wait(self, timeout: float | None = None) -> None:
        """Block until the task run is final and its hooks ran, or ``timeout`` seconds pass."""
        concurrent.futures.wait([self._future], timeout=timeout)

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        """Wait for the task run and return its result; raises what ``state.result()`` raises.

        ``TimeoutError`` if the run is not final after ``timeout`` seconds.
        """
        try:
            state = self._future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(
                f"task run {self.task_run.name!r} is still {self.state.name} after {timeout} s"
            ) from None
        except concurrent.futures.CancelledError:
            state = self.task_run.state
        return state.result(raise_on_failure=raise_on_failure)

    def add_done_callback(self, fn: Callable[[TaskRunFuture], object]) -> None:
        """Call ``fn(self)`` once the run is final and its hooks ran (at once if it is), or
        once the run was cancelled before it started."""
        self._future.add_done_callback(lambda _: fn(self))


class TaskRunFutureList(list[TaskRunFuture]):
    """The futures :meth:`Task.map <flowhook.Task.map>` returns: a list, which can also wait for
    all of them and return all their results, as Prefect's ``PrefectFutureList`` does."""

    def wait(self, timeout: float | None = None) -> None:
        """Block until every task run is final, or ``timeout`` seconds pass."""
        concurrent.futures.wait([future._future for future in self], timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[Any]:
        """The results, in order. A failure raises (what the run's ``state.result()`` raises)
        as soon as its run ends, without waiting for the runs before it.

        ``TimeoutError`` if some run is not final after ``timeout`` seconds (in all);
        ``ValueError`` for a negative ``timeout``.
        """
        if timeout is not None and timeout < 0:
            raise ValueError(f"'timeout' must be a non-negative number, got {timeout}")
        results: dict[TaskRunFuture, Any] = {}
        finished = as_completed(set(self), timeout=timeout)
        while True:
            try:
                future = next(finished)
            except StopIteration:
                return [results[future] for future in self]
            except TimeoutError:  # only the wait's: a run's own TimeoutError passes as it is
                raise TimeoutError(
                    f"Timed out waiting for all futures to complete within {timeout} seconds"
                ) from None
            results[future] = future.result(raise_on_failure=raise_on_failure)


class DoneAndNotDoneFutures(NamedTuple):
    """What :func:`wait` returns: the futures whose runs are final, and the others."""

    done: set[TaskRunFuture]
    not_done: set[TaskRunFuture]


def wait(futures: Iterable[TaskRunFuture], timeout: float | None = None) -> DoneAndNotDoneFutures:
    """Wait until every future's run is final, or ``timeout`` seconds pass."""
    by_inner = {future._future: future for future in futures}
    done, not_done = concurrent.futures.wait(by_inner, timeout=timeout)
    return DoneAndNotDoneFutures({by_inner[f] for f in done}, {by_inner[f] for f in not_done})


def as_completed(
    futures: Iterable[TaskRunFuture], timeout: float | None = None
) -> Iterator[TaskRunFuture]:
    """Yield each future as its run becomes final; ``TimeoutError`` after ``timeout`` seconds."""
    by_inner = {future._future: future for future in futures}
    try:
        for inner in concurrent.futures.as_completed(by_inner, timeout=timeout):
            yield by_inner[inner]
    except concurrent.futures.TimeoutError:
        raise TimeoutError(f"some task runs are not final after {timeout} s") from None


def map_arguments(
    task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Split ``Task.map`` arguments into one (args, kwargs) pair per run."""
    mapped: dict[int | str, list[Any]] = {}
    keyed: list[tuple[int | str, Any]] = [*enumerate(args), *kwargs.items()]
    for key, value in keyed:
        if isinstance(value, unmapped):
            continue
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise MappingMissingIterable(
                f"{task_name}.map() iterates over its arguments, but argument {key!r} is a "
                f"{type(value).__name__}; wrap values to pass whole in flowhook.unmapped(...)"
            )
        mapped[key] = list(value)
    lengths = {len(values) for values in mapped.values()}
    if len(lengths) > 1:
        shown = ", ".join(f"{key!r}: {len(values)}" for key, values in mapped.items())
        raise MappingLengthMismatch(f"{task_name}.map() needs iterables of one length, got {shown}")
    count = lengths.pop() if lengths else 0

    def pick(key: int | str, value: Any, index: int) -> Any:
        return value.value if isinstance(value, unmapped) else mapped[key][index]

    return [
        (
            tuple(pick(position, value, index) for position, value in enumerate(args)),
            {name: pick(name, value, index) for name, value in kwargs.items()},
        )
        for index in range(count)
    ]


def _rebuilt(value: Any, items: Iterable[Any]) -> Any:
    """A collection like ``value`` (a list, tuple, set or their subclass) holding ``items``;
    a named tuple is built from its fields, a list of futures becomes a plain list."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*items)
    if isinstance(value, TaskRunFutureList):  # its methods expect futures, as Prefect says
        return list(items)
    return type(value)(items)


def find_futures(value: Any) -> list[TaskRunFuture]:
    """Every future inside ``value`` whose failure stops the task, looking into lists, tuples,
    sets and dicts (keys too); not into ``quote`` or ``allow_failure``."""
    if isinstance(value, TaskRunFuture):
        return [value]
    if isinstance(value, BaseAnnotation):
        if isinstance(value, (quote, allow_failure)):
            return []
        inner = value[0]
        if isinstance(value, opaque):
            return [inner] if isinstance(inner, TaskRunFuture) else []
        return find_futures(inner)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [found for item in value for found in find_futures(item)]
    if isinstance(value, dict):
        return [found for pair in value.items() for item in pair for found in find_futures(item)]
    return []


def map_futures(value: Any, replace: Callable[[TaskRunFuture], Any]) -> Any:
    """``value`` with each future inside it (as :func:`find_futures` looks) replaced by
    ``replace(future)``; collections are rebuilt, a dict as a plain dict."""
    if isinstance(value, TaskRunFuture):
        return replace(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return _rebuilt(value, [map_futures(item, replace) for item in value])
    if isinstance(value, dict):
        return {
            map_futures(key, replace): map_futures(item, replace) for key, item in value.items()
        }
    return value


#: Types whose values can hold neither a future nor an annotation.
#: The exact types of the values that hold no future, annotation or state.
SCALARS = frozenset({int, float, str, bool, bytes, type(None)})


def may_hold_futures(arguments: Mapping[str, Any]) -> bool:
    """Whether any of ``arguments`` may hold a future or an annotation (a scalar cannot): the
    one check most task calls, whose arguments are plain values, pay."""
    for value in arguments.values():  # noqa: SIM110 (any() over a generator: two calls more)
        if type(value) not in SCALARS:
            return True
    return False


def holds_annotation(value: Any) -> bool:
    """Whether an annotation (``unmapped``, ``quote``, ``allow_failure``...) is inside ``value``,
    looking where :func:`find_futures` looks: the body must get it unwrapped."""
    if isinstance(value, BaseAnnotation):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(holds_annotation(item) for item in value)
    if isinstance(value, dict):
        return any(holds_annotation(item) for pair in value.items() for item in pair)
    return False


def tolerated_futures(value: Any) -> list[TaskRunFuture]:
    """The futures inside ``allow_failure`` annotations in ``value``: to wait for, without
    their failure stopping the task."""
    if isinstance(value, allow_failure):
        inner = value[0]
        return [*find_futures(inner), *tolerated_futures(inner)]
    if isinstance(value, BaseAnnotation):
        return [] if isinstance(value, quote) else tolerated_futures(value[0])
    if isinstance(value, (list, tuple, set, frozenset)):
        return [found for item in value for found in tolerated_futures(item)]
    if isinstance(value, dict):
        return [found for item in value.values() for found in tolerated_futures(item)]
    return []


def resolve_futures(value: Any, keep_remote: bool = False) -> Any:
    """``value`` with every future replaced by its result (the futures must be completed).

    With ``keep_remote``, a result left where its body ran stays a :class:`RemoteResult`.
    Annotations are removed: a ``quote``'s value is passed as it is, an ``allow_failure``'s
    futures are waited for and give their result, or their exception if they failed.
    """

    def result(future: TaskRunFuture) -> Any:
        data = future.state.data
        if keep_remote and isinstance(data, RemoteResult) and future.state.is_completed():
            return data
        return future.state.result()

    return _resolved(value, result)


def _resolved(value: Any, result: Callable[[TaskRunFuture], Any]) -> Any:
    if isinstance(value, TaskRunFuture):
        return result(value)
    if isinstance(value, BaseAnnotation):
        if isinstance(value, quote):
            return value[0]
        if isinstance(value, opaque):
            inner = value[0]
            return inner.state.result() if isinstance(inner, TaskRunFuture) else inner
        if isinstance(value, allow_failure):
            return _results_allowing_failure(value[0])
        return _resolved(value[0], result)
    if isinstance(value, (list, tuple, set, frozenset)):
        return _rebuilt(value, [_resolved(item, result) for item in value])
    if isinstance(value, dict):
        return {_resolved(key, result): _resolved(item, result) for key, item in value.items()}
    return value


def _results_allowing_failure(value: Any) -> Any:
    """``value`` with each future waited for and replaced by its result or its exception."""
    for future in find_futures(value):
        future.wait()
    if isinstance(value, TaskRunFuture):
        return value.state.result(raise_on_failure=False)
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_results_allowing_failure(item) for item in value)
    if isinstance(value, dict):
        return {key: _results_allowing_failure(item) for key, item in value.items()}
    return resolve_futures(value)


def states_of_futures(value: Any) -> Any:
    """``value`` with each future (at its top, or in a list, tuple or set) replaced by the final
    state of its run: what a body returned, before Prefect's rule for returned states applies."""
    if isinstance(value, TaskRunFuture):
        value.wait()
        return value.state
    if isinstance(value, (list, tuple, set, frozenset)) and any(
        isinstance(item, TaskRunFuture) for item in value
    ):
        return _rebuilt(value, [states_of_futures(item) for item in value])
    return value


def failed_upstream(
    futures: Iterable[TaskRunFuture], tolerated: Iterable[TaskRunFuture] = ()
) -> TaskRunFuture | None:
    """Wait for ``futures``; the first whose run did not complete, if any. Then wait for the
    ``tolerated`` ones (under ``allow_failure``): the first that neither completed nor failed
    (it crashed or was cancelled), as Prefect's ``allow_failure`` tolerates failures only."""
    for future in futures:
        future.wait()
        if not future.state.is_completed():
            return future
    for future in tolerated:
        future.wait()
        if not (future.state.is_completed() or future.state.is_failed()):
            return future
    return None


def resolve_futures_to_states(expr: Any) -> Any:
    """``expr`` with each future inside it replaced by its run's final state (waiting for it),
    looking into lists, tuples, sets and dicts; ``expr`` itself when it holds no future."""

    def final_state(future: TaskRunFuture) -> State:
        future.wait()
        return future.state

    return _resolve_each_once(expr, final_state)


def resolve_futures_to_results(expr: Any) -> Any:
    """``expr`` with each future inside it replaced by its run's result (waiting for it), as
    :func:`resolve_futures_to_states` looks; raises ``Exception`` if a run did not complete."""

    def result(future: TaskRunFuture) -> Any:
        future.wait()
        if not future.state.is_completed():
            raise Exception("At least one result did not complete successfully")
        return future.result()

    return _resolve_each_once(expr, result)


def _resolve_each_once(expr: Any, resolve: Callable[[TaskRunFuture], Any]) -> Any:
    futures = find_futures(expr)
    if not futures:
        return expr
    resolved = {future: resolve(future) for future in dict.fromkeys(futures)}
    return map_futures(expr, resolved.__getitem__)
