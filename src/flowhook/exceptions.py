"""Exceptions, where Prefect users import them from: ``from flowhook.exceptions import ...``."""

from flowhook_hookspec.errors import (
    CancelledRun,
    ConfigError,
    CrashedRun,
    FailedRun,
    FlowhookError,
    FlowPauseTimeout,
    IllegalTransitionError,
    MissingContextError,
    NotificationError,
    NotPausedError,
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
    "FlowPauseTimeout",
    "FlowhookError",
    "IllegalTransitionError",
    "MissingContextError",
    "NotPausedError",
    "NotificationError",
    "ParameterBindError",
    "ParameterTypeError",
    "PluginError",
    "RunError",
    "UnfinishedRun",
]
