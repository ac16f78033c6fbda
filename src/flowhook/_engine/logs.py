"""Run loggers, ``log_prints``, and the log lines the engine writes about a run.

A run logger is a :class:`logging.LoggerAdapter` over ``flowhook.flow_runs`` or
``flowhook.task_runs`` whose records carry the run's ids and names as attributes
(``flow_run_id``, ``flow_run_name``, ``flow_name``, ``task_run_id``, ``task_run_name``,
``task_name``): a handler can tell which run each record belongs to, and so keep it with the run.

``log_prints=True`` on a flow or task makes ``print()`` in its body (and in the runs it starts,
unless they say otherwise) an INFO record of the run logger. The switch is a context variable, so
that concurrent runs, in threads or on an event loop, never capture each other's prints;
``builtins.print`` is replaced once, by a function that prints as before when the switch is off.
"""

from __future__ import annotations

import builtins
import contextvars
import io
import logging
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

from flowhook_hookspec.runs import FlowRun, TaskRun

from .context import current, get_run_context

__all__ = [
    "RunLogger",
    "flow_run_logger",
    "get_run_logger",
    "log_prints_enabled",
    "print_as_log",
    "run_logger",
    "task_run_logger",
]

FLOW_RUNS = "flowhook.flow_runs"
TASK_RUNS = "flowhook.task_runs"


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes messages with the run they belong to and puts the run's ids on each record."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = self.extra or {}
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        return f"{extra['run_label']} - {msg}", kwargs


def _flow_fields(flow_run: FlowRun, flow: Any) -> dict[str, Any]:
    return {
        "flow_run_id": str(flow_run.id),
        "flow_run_name": flow_run.name,
        "flow_name": getattr(flow, "name", None) or flow_run.flow_name,
    }


def flow_run_logger(flow_run: FlowRun, flow: Any = None, **extra: Any) -> RunLogger:
    """The logger of a flow run, usable anywhere (a hook, another thread): ``flowhook.flow_runs``."""
    fields = {**_flow_fields(flow_run, flow), **extra}
    fields["run_label"] = f"Flow run {flow_run.name!r}"
    return RunLogger(logging.getLogger(FLOW_RUNS), fields)


def task_run_logger(
    task_run: TaskRun,
    task: Any = None,
    flow_run: FlowRun | None = None,
    flow: Any = None,
    **extra: Any,
) -> RunLogger:
    """The logger of a task run, usable anywhere: ``flowhook.task_runs``; with ``flow_run``, its
    records also carry the flow run's ids."""
    fields = _flow_fields(flow_run, flow) if flow_run is not None else {}
    fields.update(
        task_run_id=str(task_run.id),
        task_run_name=task_run.name,
        task_name=getattr(task, "name", None) or task_run.task_name,
    )
    fields.update(extra)
    fields["run_label"] = f"Task run {task_run.name!r}"
    return RunLogger(logging.getLogger(TASK_RUNS), fields)


def run_logger(owner: Any, run: FlowRun | TaskRun) -> RunLogger:
    """The logger of ``run`` (a flow run or a task run of ``owner``)."""
    if isinstance(run, TaskRun):
        found = current.get()
        if found is None:
            return task_run_logger(run, owner)
        return task_run_logger(run, owner, found.flow_run, found.flow)
    return flow_run_logger(run, owner)


def get_run_logger() -> RunLogger:
    """The logger of the run in progress (a task run's inside a task, else the flow run's).

    Raises :class:`~flowhook.exceptions.MissingContextError` outside any run, unless run
    loggers are disabled (``disable_run_logger()``): then a logger that drops every record. In a
    hook it is the logger of the run the hook is about.
    """
    context = current.get()
    if context is None:
        if logging.getLogger(FLOW_RUNS).disabled and logging.getLogger(TASK_RUNS).disabled:
            return _null_logger()  # inside disable_run_logger(), as in Prefect
        context = get_run_context()  # raises MissingContextError
    if context.task_run is not None:
        return task_run_logger(context.task_run, context.task, context.flow_run, context.flow)
    assert context.flow_run is not None
    return flow_run_logger(context.flow_run, context.flow)


def _null_logger() -> RunLogger:
    null = logging.getLogger("flowhook.null")
    null.disabled = True
    return RunLogger(null, {"run_label": ""})


# -- log_prints ------------------------------------------------------------------------------

#: Whether print() in the current run becomes a log record.
_log_prints: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "flowhook_log_prints", default=False
)
_original_print = builtins.print
_install_lock = threading.Lock()


def print_as_log(
    *args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False
) -> None:
    """``print`` that, in a run with ``log_prints=True``, logs the line at INFO on the run logger
    instead of writing it to standard output; elsewhere it prints as usual."""
    if not _log_prints.get() or (file is not None and file is not sys.stdout):
        _original_print(*args, sep=sep, end=end, file=file, flush=flush)
        return
    try:
        logger = get_run_logger()
    except Exception:  # not in a run after all: print as usual
        _original_print(*args, sep=sep, end=end, file=file, flush=flush)
        return
    buffer = io.StringIO()
    _original_print(*args, sep=sep, end="", file=buffer)
    logger.info(buffer.getvalue(), extra={"printed": True})


def log_prints_enabled(enabled: bool) -> contextvars.Token[bool]:
    """Turn print capture on or off for the current run; reset the token when its body ends."""
    if enabled and builtins.print is not print_as_log:
        with _install_lock:
            builtins.print = print_as_log
    return _log_prints.set(enabled)


def log_prints_on() -> bool:
    """Whether print() in the current run becomes a log record."""
    return _log_prints.get()


def reset_log_prints(token: contextvars.Token[bool]) -> None:
    _log_prints.reset(token)
