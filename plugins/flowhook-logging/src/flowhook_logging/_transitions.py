"""The transition logger: one log line per state transition of every flow run and task run.

The INFO lines come from the state-change hooks; the WARNING lines (a run failing or crashing)
from the failure and crashed hooks, which flowhook only calls on those transitions. The
state-change hooks tell flowhook when INFO is off (their ``flowhook_active`` test), so that a
transition skips them at the cost of that test, one ``isEnabledFor``: with Python's defaults
(the root logger at WARNING) they are skipped on every transition. flowhook asks again on every
transition, so lines appear as soon as the logger is enabled, however late. Called anyway
(another plugin implements the same hook), a hook checks its level itself, and a line is only
built when it will be handled.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

from flowhook_hookspec import FlowRun, State, StateType, TaskRun, hookimpl

__all__ = [
    "FORMAT_VARIABLE",
    "TRANSITIONS_LOGGER",
    "on_flow_run_crashed",
    "on_flow_run_failure",
    "on_flow_run_state_change",
    "on_task_run_crashed",
    "on_task_run_failure",
    "on_task_run_state_change",
    "transition_level",
]

#: The logger the transition lines go to.
TRANSITIONS_LOGGER = "flowhook.transitions"
#: ``json`` in this environment variable makes each line one JSON object.
FORMAT_VARIABLE = "FLOWHOOK_LOG_FORMAT"

_logger = logging.getLogger(TRANSITIONS_LOGGER)

_Hook = TypeVar("_Hook", bound=Callable[..., None])

# Whether an INFO line would be handled now: a partial of the bound method, not a function
# calling it, as flowhook asks on every transition.
_info_wanted = functools.partial(_logger.isEnabledFor, logging.INFO)


def _idle_without_info(hook: _Hook) -> _Hook:
    """Give ``hook`` the test that tells flowhook when it has work (its ``flowhook_active``)."""
    vars(hook)["flowhook_active"] = _info_wanted
    return hook


def _nonblocking(hook: _Hook) -> _Hook:
    """Say that ``hook`` never blocks (its ``flowhook_nonblocking``): it only logs, as the engine
    itself does on an async run's event loop, so an async run calls it there, not in a worker
    thread."""
    vars(hook)["flowhook_nonblocking"] = True
    return hook


def transition_level(state: State) -> int:
    """WARNING for a run entering a FAILED or CRASHED state (Failed, TimedOut, Crashed), INFO
    for every other state (including AwaitingRetry: a failed attempt that will be retried)."""
    return logging.WARNING if state.type in _LOUD else logging.INFO


# A tuple, not a set: a StateType's hash is a Python call, and this test runs on every
# transition (a StateType is a str: ``in`` compares strings).
_LOUD = (StateType.FAILED, StateType.CRASHED)


@hookimpl
@_nonblocking
@_idle_without_info
def on_flow_run_state_change(flow_run: FlowRun, old_state: State | None, new_state: State) -> None:
    """Log the transition of a flow run, unless it fails or crashes (:func:`on_flow_run_failure`)."""
    if new_state.type not in _LOUD and _logger.isEnabledFor(logging.INFO):
        _log(logging.INFO, "flow", flow_run, flow_run.flow_name, None, old_state, new_state)


@hookimpl
@_nonblocking
@_idle_without_info
def on_task_run_state_change(task_run: TaskRun, old_state: State | None, new_state: State) -> None:
    """Log the transition of a task run, unless it fails or crashes (:func:`on_task_run_failure`)."""
    if new_state.type not in _LOUD and _logger.isEnabledFor(logging.INFO):
        flow_run_id = task_run.flow_run_id
        _log(logging.INFO, "task", task_run, task_run.task_name, flow_run_id, old_state, new_state)


@hookimpl
@_nonblocking
def on_flow_run_failure(flow_run: FlowRun, state: State) -> None:
    """Log a flow run failing (Failed, TimedOut), as a WARNING."""
    _log_loud("flow", flow_run, flow_run.flow_name, None, state)


@hookimpl
@_nonblocking
def on_flow_run_crashed(flow_run: FlowRun, state: State) -> None:
    """Log a flow run crashing, as a WARNING."""
    _log_loud("flow", flow_run, flow_run.flow_name, None, state)


@hookimpl
@_nonblocking
def on_task_run_failure(task_run: TaskRun, state: State) -> None:
    """Log a task run failing (Failed, TimedOut), as a WARNING."""
    _log_loud("task", task_run, task_run.task_name, task_run.flow_run_id, state)


@hookimpl
@_nonblocking
def on_task_run_crashed(task_run: TaskRun, state: State) -> None:
    """Log a task run crashing, as a WARNING."""
    _log_loud("task", task_run, task_run.task_name, task_run.flow_run_id, state)


def _log_loud(kind: str, run: FlowRun | TaskRun, name: str, flow_run_id: Any, state: State) -> None:
    """The WARNING line of a run entering ``state``, coming from the state before it in the
    run's history (the engine appends a state before its hooks fire)."""
    if _logger.isEnabledFor(logging.WARNING):
        history = run.state_history
        old = history[-2] if len(history) > 1 else None
        _log(logging.WARNING, kind, run, name, flow_run_id, old, state)


def _log(
    level: int,
    kind: str,
    run: FlowRun | TaskRun,
    name: str,
    flow_run_id: Any,
    old_state: State | None,
    new_state: State,
) -> None:
    old_name = None if old_state is None else old_state.name
    if os.environ.get(FORMAT_VARIABLE, "").strip().lower() == "json":
        event: dict[str, Any] = {
            "event": f"{kind}_run_state_change",
            "run_kind": kind,
            "run_id": str(run.id),
            "run_name": run.name,
            f"{kind}_name": name,
        }
        if kind == "task":
            event["flow_run_id"] = None if flow_run_id is None else str(flow_run_id)
        event.update(
            run_count=run.run_count,
            old_state=old_name,
            new_state=new_state.name,
            state_type=new_state.type.value,
            message=new_state.message,
            timestamp=new_state.timestamp.isoformat(),
        )
        line = json.dumps(event, ensure_ascii=False, default=str)
        _emit(level, "%s", (line,), {"flowhook_transition": event})
    else:
        text = "%s run %r (%s %r, id %s): %s -> %s"
        args: tuple[Any, ...] = (
            kind,
            run.name,
            kind,
            name,
            run.id,
            old_name or "(new)",
            new_state.name,
        )
        if new_state.message:
            text += ": %r"
            args += (new_state.message,)
        _emit(level, text, args)


def _emit(
    level: int, message: str, args: tuple[Any, ...], extra: dict[str, Any] | None = None
) -> None:
    # makeRecord + handle instead of Logger.log: the same record and handlers, without the
    # stack walk that finds the caller's file and line (they would only ever name this module),
    # which is most of the cost of a log line on this hot path.
    record = _logger.makeRecord(
        _logger.name, level, __file__, 0, message, args, None, "_log", extra
    )
    _logger.handle(record)
