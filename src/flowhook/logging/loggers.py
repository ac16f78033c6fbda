"""Run loggers and logging helpers by the names Prefect's ``prefect.logging.loggers`` uses."""

from __future__ import annotations

import builtins
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from typing_extensions import Self

from .._engine import (
    FLOW_RUNS,
    TASK_RUNS,
    RunLogger,
    flow_run_logger,
    get_run_logger,
    print_as_log,
    task_run_logger,
)

__all__ = [
    "LogEavesdropper",
    "PrefectLogAdapter",
    "RunLogger",
    "disable_logger",
    "disable_run_logger",
    "flow_run_logger",
    "get_logger",
    "get_run_logger",
    "patch_print",
    "print_as_log",
    "task_run_logger",
]

#: Prefect's name for the adapter run loggers are: ``get_run_logger()`` returns one.
PrefectLogAdapter = RunLogger


def get_logger(name: str | None = None) -> logging.Logger:
    """The logger ``flowhook`` or ``flowhook.<name>``."""
    return logging.getLogger("flowhook" if name is None else f"flowhook.{name}")


@contextlib.contextmanager
def disable_logger(name: str) -> Iterator[None]:
    """Disable the logger ``name`` (as given, not under ``flowhook.``) inside the block."""
    logger = logging.getLogger(name)
    was_disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was_disabled


@contextlib.contextmanager
def disable_run_logger() -> Iterator[None]:
    """Drop every record of the flow and task run loggers inside the block; there,
    ``get_run_logger()`` outside any run returns a logger that drops records instead of raising,
    so that a task's function can be called directly (``my_task.fn()``) in a test."""
    with disable_logger(FLOW_RUNS), disable_logger(TASK_RUNS):
        yield


@contextlib.contextmanager
def patch_print() -> Iterator[None]:
    """Make ``print`` :func:`print_as_log` inside the block, then restore the ``print`` before."""
    before = builtins.print
    builtins.print = print_as_log
    try:
        yield
    finally:
        builtins.print = before


class LogEavesdropper(logging.Handler):
    """Collects the records of a logger (and its children) while the ``with`` block runs.

    ``eavesdropper.text()`` returns them as lines ``[LEVEL]: message``, without file names or
    anything else about the environment, fit to show back to a user.
    """

    def __init__(self, eavesdrop_on: str, level: int = logging.NOTSET) -> None:
        super().__init__(level=level)
        self.eavesdrop_on = eavesdrop_on
        self.formatter = logging.Formatter("[%(levelname)s]: %(message)s")
        self._lines: list[str] = []
        self._target: logging.Logger | None = None
        self._level_before = logging.NOTSET

    def __enter__(self) -> Self:
        self._target = logging.getLogger(self.eavesdrop_on)
        self._level_before = self._target.level
        self._target.setLevel(self.level)
        self._target.addHandler(self)
        self._lines = []
        return self

    def __exit__(self, *_: Any) -> None:
        if self._target is not None:
            self._target.removeHandler(self)
            self._target.setLevel(self._level_before)

    def emit(self, record: logging.LogRecord) -> None:
        self._lines.append(self.format(record))

    def text(self) -> str:
        """The records collected, one per line."""
        return "\n".join(self._lines)
