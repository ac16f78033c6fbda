"""flowhook: an in-process workflow engine whose every state transition is a plugin hook.

from flowhook import flow, task

@task(retries=2)
def extract(n: int) -> list[int]:
    return list(range(n))

@flow
def etl(n: int = 3) -> int:
    return sum(extract(n))
"""

from typing import TYPE_CHECKING

from flowhook_hookspec import (
    CancelledRun,
    ConfigError,
    CrashedRun,
    FailedRun,
    FlowhookError,
    IllegalTransitionError,
    MissingContextError,
    NotificationError,
    PluginError,
    UnfinishedRun,
)
from flowhook_hookspec.lazy import lazy_names

from . import _runtime
from ._version import __version__

if TYPE_CHECKING:
    from flowhook_hookspec import FlowRun, Notifier, Secret, State, StateType, TaskRun, hookimpl
    from flowhook_hookspec.runners import TaskRunner

    from . import states
    from ._engine import (
        RunContext,
        TaskRunFuture,
        ThreadPoolTaskRunner,
        Transaction,
        allow_failure,
        cancel_flow_run,
        exponential_backoff,
        get_run_context,
        get_run_logger,
        get_transaction,
        tags,
        transaction,
        unmapped,
    )
    from ._engine.flows import Flow, flow
    from ._engine.tasks import Task, task
    from ._plugins import PluginInfo, list_plugins, register_plugin, unregister_plugin
    from .flow_runs import pause_flow_run, resume_flow_run, suspend_flow_run
    from .notifications import Block

_runtime.install()

__all__ = [
    "Block",
    "CancelledRun",
    "ConfigError",
    "CrashedRun",
    "FailedRun",
    "Flow",
    "FlowRun",
    "FlowhookError",
    "IllegalTransitionError",
    "MissingContextError",
    "NotificationError",
    "Notifier",
    "PluginError",
    "PluginInfo",
    "RunContext",
    "Secret",
    "State",
    "StateType",
    "Task",
    "TaskRun",
    "TaskRunFuture",
    "TaskRunner",
    "ThreadPoolTaskRunner",
    "Transaction",
    "UnfinishedRun",
    "__version__",
    "allow_failure",
    "cancel_flow_run",
    "exponential_backoff",
    "flow",
    "get_run_context",
    "get_run_logger",
    "get_transaction",
    "hookimpl",
    "list_plugins",
    "pause_flow_run",
    "register_plugin",
    "resume_flow_run",
    "states",
    "suspend_flow_run",
    "tags",
    "task",
    "transaction",
    "unmapped",
    "unregister_plugin",
]

# ``import flowhook`` loads the runtime seam and the contract's errors; every other name (``flow``
# and ``task`` too, so that the command line starts without the engine) loads with its
# module on first use (PEP 562). A run loads the engine's machinery, the store and the plugins
# itself; Block loads the notifications and Jinja.
__getattr__, __dir__ = lazy_names(
    __name__,
    {
        **{
            name: f"flowhook_hookspec:{name}"
            for name in (
                "FlowRun",
                "Notifier",
                "Secret",
                "State",
                "StateType",
                "TaskRun",
                "hookimpl",
            )
        },
        "TaskRunner": "flowhook_hookspec.runners:TaskRunner",
        "Flow": "._engine.flows:Flow",
        "flow": "._engine.flows:flow",
        "Task": "._engine.tasks:Task",
        "task": "._engine.tasks:task",
        "states": ".states",
        **{
            name: f"._engine:{name}"
            for name in (
                "RunContext",
                "TaskRunFuture",
                "ThreadPoolTaskRunner",
                "Transaction",
                "allow_failure",
                "cancel_flow_run",
                "exponential_backoff",
                "get_run_context",
                "get_run_logger",
                "get_transaction",
                "tags",
                "transaction",
                "unmapped",
            )
        },
        **{
            name: f"._plugins:{name}"
            for name in ("PluginInfo", "list_plugins", "register_plugin", "unregister_plugin")
        },
        **{
            name: f".flow_runs:{name}"
            for name in ("pause_flow_run", "resume_flow_run", "suspend_flow_run")
        },
        "Block": ".notifications:Block",
    },
)
