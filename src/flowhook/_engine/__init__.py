"""The engine: states in motion. It imports the contract and the plugins layer, nothing else.

What the layers above use is exported here; the modules behind it are the engine's own. Each
name loads with its module on first use (PEP 562): ``import flowhook`` needs only ``@flow`` and
``@task``, and the machinery of a run (attempts, transitions, futures, the task runner) loads with
the first run.
"""

from typing import TYPE_CHECKING

from flowhook_hookspec.lazy import lazy_names

if TYPE_CHECKING:
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
    from .context import (
        current as current_context,
    )
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
    from .pausing import pause_flow_run, resume_here, suspend_flow_run
    from .prepare import preparers
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

__getattr__, __dir__ = lazy_names(
    __name__,
    {
        "active_flow_run": ".cancellation:active_flow_run",
        "cancel_flow_run": ".cancellation:cancel_flow_run",
        "FlowRunContext": ".context:FlowRunContext",
        "RunContext": ".context:RunContext",
        "TagsContext": ".context:TagsContext",
        "TaskRunContext": ".context:TaskRunContext",
        "flow_context": ".context:flow_context",
        "get_run_context": ".context:get_run_context",
        "tags": ".context:tags",
        "task_context": ".context:task_context",
        "current_context": ".context:current",
        "Flow": ".flows:Flow",
        "flow": ".flows:flow",
        "BaseAnnotation": ".futures:BaseAnnotation",
        "DoneAndNotDoneFutures": ".futures:DoneAndNotDoneFutures",
        "TaskRunFuture": ".futures:TaskRunFuture",
        "TaskRunFutureList": ".futures:TaskRunFutureList",
        "allow_failure": ".futures:allow_failure",
        "as_completed": ".futures:as_completed",
        "opaque": ".futures:opaque",
        "quote": ".futures:quote",
        "unmapped": ".futures:unmapped",
        "wait": ".futures:wait",
        "FLOW_RUNS": ".logs:FLOW_RUNS",
        "TASK_RUNS": ".logs:TASK_RUNS",
        "RunLogger": ".logs:RunLogger",
        "flow_run_logger": ".logs:flow_run_logger",
        "get_run_logger": ".logs:get_run_logger",
        "print_as_log": ".logs:print_as_log",
        "task_run_logger": ".logs:task_run_logger",
        "ParameterBindError": ".parameters:ParameterBindError",
        "ParameterTypeError": ".parameters:ParameterTypeError",
        "bind_arguments": ".parameters:bind_arguments",
        "coerce_arguments": ".parameters:coerce_arguments",
        "pause_flow_run": ".pausing:pause_flow_run",
        "resume_here": ".pausing:resume_here",
        "suspend_flow_run": ".pausing:suspend_flow_run",
        "preparers": ".prepare:preparers",
        "set_default_directory": ".result_home:set_default_directory",
        "exponential_backoff": ".retries:exponential_backoff",
        "Runnable": ".runnables:Runnable",
        "ThreadPoolTaskRunner": ".runners:ThreadPoolTaskRunner",
        "Task": ".tasks:Task",
        "task": ".tasks:task",
        "CommitMode": ".transactions:CommitMode",
        "IsolationLevel": ".transactions:IsolationLevel",
        "Transaction": ".transactions:Transaction",
        "TransactionState": ".transactions:TransactionState",
        "get_transaction": ".transactions:get_transaction",
        "transaction": ".transactions:transaction",
        "RUN_KINDS": ".transitions:RUN_KINDS",
        "RunKind": ".transitions:RunKind",
        "RunOwner": ".transitions:RunOwner",
        "TransitionObserver": ".transitions:TransitionObserver",
        "observers": ".transitions:observers",
        "set_state": ".transitions:set_state",
    },
)

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
