"""flowhook: an in-process workflow engine whose every state transition is a plugin hook.

from flowhook import flow, task

@task(retries=2)
def extract(n: int) -> list[int]:
    return list(range(n))

@flow
def etl(n: int = 3) -> int:
    return sum(extract(n))
"""

from flowhook_hookspec import (
    CancelledRun,
    ConfigError,
    CrashedRun,
    FailedRun,
    FlowhookError,
    FlowRun,
    IllegalTransitionError,
    MissingContextError,
    NotificationError,
    Notifier,
    PluginError,
    Secret,
    State,
    StateType,
    TaskRun,
    UnfinishedRun,
    hookimpl,
)

from . import states
from .blocks import Block
from .cancellation import cancel_flow_run
from .context import RunContext, get_run_context, get_run_logger
from .flows import Flow, flow
from .futures import TaskRunFuture, unmapped
from .plugins import PluginInfo, list_plugins, register_plugin, unregister_plugin
from .retries import exponential_backoff
from .runners import TaskRunner, ThreadPoolTaskRunner
from .tasks import Task, task
from .transactions import Transaction, transaction

__version__ = "0.1.0"

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
    "cancel_flow_run",
    "exponential_backoff",
    "flow",
    "get_run_context",
    "get_run_logger",
    "hookimpl",
    "list_plugins",
    "register_plugin",
    "states",
    "task",
    "transaction",
    "unmapped",
    "unregister_plugin",
]
