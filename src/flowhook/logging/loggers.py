"""Run loggers by the names Prefect's ``prefect.logging.loggers`` uses."""

from __future__ import annotations

import logging

from .._engine import RunLogger, flow_run_logger, get_run_logger, task_run_logger

__all__ = ["RunLogger", "flow_run_logger", "get_logger", "get_run_logger", "task_run_logger"]


def get_logger(name: str | None = None) -> logging.Logger:
    """The logger ``flowhook`` or ``flowhook.<name>``."""
    return logging.getLogger("flowhook" if name is None else f"flowhook.{name}")
