"""The run context of a body in a worker process, and its log records sent home.

In the flow's process, :func:`snapshot` captures the task run a body belongs to (plain copies of
its run and its flow run, without their states' data). In the worker, :func:`enter` makes that
the run context, so that ``get_run_context()`` and ``get_run_logger()`` work in the body, and
sends each record of the run loggers to the flow's process, where :func:`emit` logs it again:
there the store keeps it with its run, as a record logged in a thread would be.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from flowhook_hookspec.runs import FlowRun, TaskRun

from . import context
from .logs import FLOW_RUNS, TASK_RUNS, log_prints_enabled, log_prints_on, reset_log_prints

__all__ = ["emit", "enter", "snapshot"]

_PLAIN = (str, int, float, bool, type(None))


def _light(run: FlowRun | TaskRun) -> FlowRun | TaskRun:
    state = attrs.evolve(run.state, data=None)
    return attrs.evolve(run, state=state, state_history=[], parameters={})


def snapshot() -> bytes | None:
    """The current task run's context, pickled for a worker; ``None`` outside a task run.

    The runs' parameters stay here: the worker binds the task run's again from the body's own
    arguments, so that a large argument does not travel twice.
    """
    found = context.current.get()
    if found is None or found.task_run is None:
        return None
    own = None if found.task is None else found.task.log_prints
    log_prints = log_prints_on() if own is None else own
    flow_run = None if found.flow_run is None else _light(found.flow_run)
    return pickle.dumps((_light(found.task_run), flow_run, log_prints))


class _Forward(logging.Handler):
    """Sends each record, flattened to plain values, to the flow's process."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(logging.NOTSET)
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = {k: v for k, v in record.__dict__.items() if isinstance(v, _PLAIN)}
            fields.update(msg=record.getMessage(), args=None)
            if record.exc_info:
                fields["exc_text"] = logging.Formatter().formatException(record.exc_info)
            self.send(fields)
        except Exception:
            self.handleError(record)


_installed: list[_Forward] = []


@contextmanager
def enter(
    blob: bytes, call: tuple[Any, ...], send: Callable[[dict[str, Any]], None]
) -> Iterator[None]:
    """In the worker: run the body ``call`` (``(fn, args, kwargs)``) inside the snapshot's
    context, its records sent by ``send``."""
    task_run, flow_run, log_prints = pickle.loads(blob)
    fn, args, kwargs = call
    with contextlib.suppress(Exception):  # a callable without a signature: no parameters
        task_run.parameters = dict(inspect.signature(fn).bind(*args, **kwargs).arguments)
    if _installed:
        _installed[0].send = send  # this body's key
    else:
        _installed.append(_Forward(send))
        for name in (FLOW_RUNS, TASK_RUNS):
            logger = logging.getLogger(name)
            logger.addHandler(_installed[0])
            logger.setLevel(logging.DEBUG)  # the flow's process applies its own levels
    token = context.current.set(context.RunContext(flow_run=flow_run, task_run=task_run))
    prints = log_prints_enabled(log_prints)
    try:
        yield
    finally:
        reset_log_prints(prints)
        context.current.reset(token)


def emit(fields: dict[str, Any]) -> None:
    """In the flow's process: log a record a worker sent, if its logger's level lets it pass."""
    record = logging.makeLogRecord(fields)
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)
