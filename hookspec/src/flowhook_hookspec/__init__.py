"""flowhook's plugin contract: states, runs, hook specifications and the notifier interface.

Plugins depend on this small distribution (``flowhook-hookspec``), not on the engine.
"""

from .errors import (
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
from .notify import MASK, Notifier, Secret, as_secret, redact
from .runs import FlowRun, TaskRun
from .specs import PROJECT_NAME, hookimpl, hookspec
from .states import State, StateType

__version__ = "0.1.0"

__all__ = [
    "MASK",
    "PROJECT_NAME",
    "CancelledRun",
    "ConfigError",
    "CrashedRun",
    "FailedRun",
    "FlowRun",
    "FlowhookError",
    "IllegalTransitionError",
    "MissingContextError",
    "NotificationError",
    "Notifier",
    "PluginError",
    "RunError",
    "Secret",
    "State",
    "StateType",
    "TaskRun",
    "UnfinishedRun",
    "__version__",
    "as_secret",
    "converter",
    "hookimpl",
    "hookspec",
    "redact",
]


def __getattr__(name: str) -> object:
    # The cattrs converter is imported on first use: cattrs is slow to import, and most
    # programs that import flowhook never serialize anything.
    if name == "converter":
        from .serde import converter

        return converter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
