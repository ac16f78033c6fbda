"""flowhook's plugin contract: states, runs, hook specifications and the notifier interface.

Plugins depend on this small distribution (``flowhook-hookspec``), not on the engine.

The errors load with the package; every other name loads with its module on first use (PEP 562):
``import flowhook`` needs neither pluggy (the hook specifications) nor the runs' and notifiers'
attrs classes before the first run or the first plugin.
"""

from typing import TYPE_CHECKING

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
from .lazy import lazy_names

if TYPE_CHECKING:
    from .notify import MASK, Notifier, Secret, as_secret, redact
    from .runs import FlowRun, TaskRun
    from .serde import converter
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

# The cattrs converter among them: cattrs is slow to import, and most programs that import
# flowhook never serialize anything.
__getattr__, __dir__ = lazy_names(
    __name__,
    {
        **{
            name: f".notify:{name}"
            for name in ("MASK", "Notifier", "Secret", "as_secret", "redact")
        },
        **{name: f".runs:{name}" for name in ("FlowRun", "TaskRun")},
        "converter": ".serde:converter",
        **{name: f".specs:{name}" for name in ("PROJECT_NAME", "hookimpl", "hookspec")},
        **{name: f".states:{name}" for name in ("State", "StateType")},
    },
)
