"""Run loggers: ``from flowhook.logging import get_run_logger``.

Records of ``get_run_logger()``, :func:`~flowhook.logging.loggers.flow_run_logger` and
:func:`~flowhook.logging.loggers.task_run_logger` go to the loggers ``flowhook.flow_runs`` and
``flowhook.task_runs``, with the run's ids and names as record attributes.
``disable_run_logger()`` silences both; ``LogEavesdropper`` collects a logger's records.
"""

from .loggers import (
    LogEavesdropper,
    RunLogger,
    disable_run_logger,
    flow_run_logger,
    get_logger,
    get_run_logger,
    task_run_logger,
)

__all__ = [
    "LogEavesdropper",
    "RunLogger",
    "disable_run_logger",
    "flow_run_logger",
    "get_logger",
    "get_run_logger",
    "task_run_logger",
]
