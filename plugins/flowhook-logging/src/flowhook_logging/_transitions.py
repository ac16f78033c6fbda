"""The transition logger: one log line per state transition of every flow run and task run.

This runs on every transition, so the common case (the logger is not enabled for the level)
costs one ``isEnabledFor`` call, and the line is only built when it will be handled.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from flowhook_hookspec import FlowRun, State, StateType, TaskRun, hookimpl

__all__ = [
    "FORMAT_VARIABLE",
    "TRANSITIONS_LOGGER",
    "on_flow_run_state_change",
    "on_task_run_state_change",
    "transition_level",
]

#: The logger the transition lines go to.
TRANSITIONS_LOGGER = "flowhook.transitions"
#: ``json`` in this environment variable makes each line one JSON object.
FORMAT_VARIABLE = "FLOWHOOK_LOG_FORMAT"

_logger = logging.getLogger(TRANSITIONS_LOGGER)


def transition_level(state: State) -> int:
    """WARNING for a run entering a FAILED or CRASHED state (Failed, TimedOut, Crashed), INFO
    for every other state (including AwaitingRetry: a failed attempt that will be retried)."""
    return logging.WARNING if state.type in _LOUD else logging.INFO


# A tuple, not a set: a StateType's hash is a Python call, and this test runs on every
# transition (a StateType is a str: ``in`` compares strings).
_LOUD = (StateType.FAILED, StateType.CRASHED)


@hookimpl
def on_flow_run_state_change(flow_run: FlowRun, old_state: State | None, new_state: State) -> None:
    """Log the transition of a flow run."""
    level = transition_level(new_state)
    if _logger.isEnabledFor(level):
        _log(level, "flow", flow_run, flow_run.flow_name, None, old_state, new_state)


@hookimpl
def on_task_run_state_change(task_run: TaskRun, old_state: State | None, new_state: State) -> None:
    """Log the transition of a task run."""
    level = transition_level(new_state)
    if _logger.isEnabledFor(level):
        _log(
            level, "task", task_run, task_run.task_name, task_run.flow_run_id, old_state, new_state
        )


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
