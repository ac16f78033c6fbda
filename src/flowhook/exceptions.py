"""Exceptions, where Prefect users import them from: ``from flowhook.exceptions import ...``."""

from flowhook_hookspec.errors import (
    CancelledRun,
    ConfigError,
    CrashedRun,
    FailedRun,
    FlowhookError,
    IllegalTransitionError,
    MissingContextError,
    NotificationError,
    PluginError,
    RunError,
    UnfinishedRun,
)

from ._engine import ParameterBindError, ParameterTypeError

__all__ = [
    "CancelledRun",
    "ConfigError",
    "CrashedRun",
    "FailedRun",
    "FlowhookError",
    "IllegalTransitionError",
    "MissingContextError",
    "NotificationError",
    "ParameterBindError",
    "ParameterTypeError",
    "PluginError",
    "RunError",
    "UnfinishedRun",
]
