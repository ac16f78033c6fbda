"""What is kept of a run's result: a task's settings as its flow sets them, a flow's own record,
and results released from memory once they are stored (``cache_result_in_memory=False``).

As in Prefect, a flow's ``persist_result``, ``result_storage`` and ``result_serializer`` are the
defaults of the tasks that run in it: a task that says nothing about persistence persists when
its flow does, and a task that names no storage or serializer uses its flow's.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

import attrs

from flowhook_hookspec.states import RemoteResult, State

if TYPE_CHECKING:
    from flowhook_hookspec.runs import FlowRun

    from .flows import Flow
    from .result_options import ResultSettings
    from .results import ResultStorage, Serializer
    from .tasks import Task

__all__ = [
    "FlowResultOptions",
    "StoredResult",
    "flow_result_options",
    "keep_flow_result",
    "release_result",
    "task_settings_in",
]

logger = logging.getLogger("flowhook.results")


@attrs.frozen
class FlowResultOptions:
    """A flow's result options, checked: the defaults of its tasks, and its own record's."""

    persist_result: bool | None
    storage: ResultStorage | None
    serializer: Serializer | None


def flow_result_options(
    persist_result: bool | None, result_storage: Any, result_serializer: Any
) -> FlowResultOptions | None:
    """None when the flow sets none of them (its tasks then decide alone, at no cost)."""
    if persist_result is None and result_storage is None and result_serializer is None:
        return None
    from .results import resolve_serializer, resolve_storage

    if persist_result is not None and not isinstance(persist_result, bool):
        raise TypeError(f"persist_result takes True, False or None, got {persist_result!r}")
    storage = resolve_storage(result_storage)
    serializer = None if result_serializer is None else resolve_serializer(result_serializer)
    if persist_result is None:  # as in Prefect: naming where or how turns persistence on
        persist_result = True
    return FlowResultOptions(persist_result, storage, serializer)


def task_settings_in(task: Task[..., Any], flow: Flow[..., Any] | None) -> ResultSettings | None:
    """The result settings of a run of ``task`` in a run of ``flow`` (None: nothing is kept)."""
    if flow is None or flow.result_options is None:
        return task.result_settings
    inherited = flow.__dict__.get("_task_settings")
    if inherited is None:  # keyed by the task itself: an id could be reused by another task
        inherited = flow.__dict__["_task_settings"] = weakref.WeakKeyDictionary()
    try:
        return inherited[task]  # type: ignore[no-any-return]
    except KeyError:
        settings = inherited[task] = _inherit(task, flow.result_options)
        return settings


def _inherit(task: Task[..., Any], defaults: FlowResultOptions) -> ResultSettings | None:
    settings = task.result_settings
    if settings is None:
        if task.persist_result is False or not defaults.persist_result:
            return None
        from .result_options import resolve_result_options

        options = task.result_option_values()
        options["persist_result"] = True
        resolved = resolve_result_options(task.name, task.signature.parameters, **options)
        settings = resolved.settings
        assert settings is not None
    changes: dict[str, Any] = {}
    if task.result_storage is None and defaults.storage is not None:
        changes["storage"] = defaults.storage
    if task.result_serializer is None and defaults.serializer is not None:
        changes["serializer"] = defaults.serializer
    return attrs.evolve(settings, **changes) if changes else settings


@attrs.frozen(eq=False)
class StoredResult(RemoteResult):
    """A result kept in a storage rather than in memory: read again at each :meth:`fetch`."""

    storage: ResultStorage
    key: str
    serializer: Serializer

    def fetch(self) -> Any:
        from .results import read_record

        record = read_record(self.storage, self.key, self.serializer)
        if record is None:
            raise LookupError(
                f"the result record {self.key!r} is gone from its storage: it was written "
                "with cache_result_in_memory=False, so no copy was kept in memory"
            )
        return record.value


def release_result(state: State, storage: ResultStorage, key: str, serializer: Serializer) -> None:
    """Let a completed state hold a :class:`StoredResult` instead of its value, which is stored
    already: the value's memory is freed once its caller drops it."""
    # States are frozen for their readers; the engine that made this one swaps its data for a
    # reference to the same value, so that state histories and futures stop holding it.
    object.__setattr__(state, "data", StoredResult(storage, key, serializer))


def keep_flow_result(flow: Flow[..., Any], run: FlowRun, state: State) -> None:
    """Write a completed flow run's result when the flow persists results (``run-<id>``)."""
    options = flow.result_options
    if options is None or not options.persist_result or not state.is_completed():
        return
    from .result_home import default_storage
    from .results import PickleSerializer, ResultRecord

    storage = options.storage or default_storage()
    serializer = options.serializer or PickleSerializer()
    key = f"run-{run.id.hex}"
    try:
        value = state.result()
        storage.write(key, ResultRecord.new(value, serializer, None).to_bytes(serializer))
    except Exception as exc:
        logger.error(
            "the result of flow run %r was not stored (%s: %s); the run stays %s",
            run.name,
            type(exc).__name__,
            exc,
            state.name,
        )
        return
    if not flow.cache_result_in_memory:
        release_result(state, storage, key, serializer)
