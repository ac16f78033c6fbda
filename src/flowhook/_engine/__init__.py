"""The engine: states in motion. It imports the contract and the plugins layer, nothing else.

What the layers above use is exported here; the modules behind it are the engine's own.
"""

from typing import TYPE_CHECKING

from .calls import preparers
from .cancellation import active_flow_run, cancel_flow_run
from .context import (
    FlowRunContext,
    RunContext,
    TagsContext,
    TaskRunContext,
    flow_context,
    get_run_context,
    tags,
    task_context,
)
from .context import current as current_context
from .flows import Flow, flow
from .futures import (
    BaseAnnotation,
    DoneAndNotDoneFutures,
    TaskRunFuture,
    TaskRunFutureList,
    allow_failure,
    as_completed,
    opaque,
    quote,
    unmapped,
    wait,
)
from .logs import (
    FLOW_RUNS,
    TASK_RUNS,
    RunLogger,
    flow_run_logger,
    get_run_logger,
    print_as_log,
    task_run_logger,
)
from .parameters import ParameterBindError, ParameterTypeError, bind_arguments, coerce_arguments
from .result_home import set_default_directory
from .retries import exponential_backoff
from .runnables import Runnable
from .runners import ThreadPoolTaskRunner
from .tasks import Task, task
from .transactions import (
    CommitMode,
    IsolationLevel,
    Transaction,
    TransactionState,
    get_transaction,
    transaction,
)
from .transitions import RUN_KINDS, RunKind, RunOwner, TransitionObserver, observers, set_state

if TYPE_CHECKING:
    from .pausing import pause_flow_run, resume_here, suspend_flow_run

#: Names imported on first use: only a run that pauses needs their module.
_LAZY = dict.fromkeys(("pause_flow_run", "resume_here", "suspend_flow_run"), "pausing")


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FLOW_RUNS",
    "RUN_KINDS",
    "TASK_RUNS",
    "BaseAnnotation",
    "CommitMode",
    "DoneAndNotDoneFutures",
    "Flow",
    "FlowRunContext",
    "IsolationLevel",
    "ParameterBindError",
    "ParameterTypeError",
    "RunContext",
    "RunKind",
    "RunLogger",
    "RunOwner",
    "Runnable",
    "TagsContext",
    "Task",
    "TaskRunContext",
    "TaskRunFuture",
    "TaskRunFutureList",
    "ThreadPoolTaskRunner",
    "Transaction",
    "TransactionState",
    "TransitionObserver",
    "active_flow_run",
    "allow_failure",
    "as_completed",
    "bind_arguments",
    "cancel_flow_run",
    "coerce_arguments",
    "current_context",
    "exponential_backoff",
    "flow",
    "flow_context",
    "flow_run_logger",
    "get_run_context",
    "get_run_logger",
    "get_transaction",
    "observers",
    "opaque",
    "pause_flow_run",
    "preparers",
    "print_as_log",
    "quote",
    "resume_here",
    "set_default_directory",
    "set_state",
    "suspend_flow_run",
    "tags",
    "task",
    "task_context",
    "task_run_logger",
    "transaction",
    "unmapped",
    "wait",
]
