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
from flowhook_hookspec.runners import TaskRunner

from . import _runtime, states
from ._engine import (
    Flow,
    RunContext,
    Task,
    TaskRunFuture,
    ThreadPoolTaskRunner,
    Transaction,
    allow_failure,
    cancel_flow_run,
    exponential_backoff,
    flow,
    get_run_context,
    get_run_logger,
    get_transaction,
    tags,
    task,
    transaction,
    unmapped,
)
from ._plugins import PluginInfo, list_plugins, register_plugin, unregister_plugin
from ._version import __version__

if TYPE_CHECKING:
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


def __getattr__(name: str) -> object:
    # Block is the notifications package's, which loads Jinja: only when it is asked for, so
    # that ``import flowhook`` stays lean.
    if name == "Block":
        from .notifications import Block

        return Block
    if name in ("pause_flow_run", "resume_flow_run", "suspend_flow_run"):
        from . import flow_runs

        return getattr(flow_runs, name)
    raise AttributeError(f"module 'flowhook' has no attribute {name!r}")
