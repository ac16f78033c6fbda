"""The engine: states in motion. It imports the contract and the plugins layer, nothing else.

What the layers above use is exported here; the modules behind it are the engine's own.
"""

from .calls import preparers
from .cancellation import cancel_flow_run
from .context import RunContext, get_run_context
from .context import current as current_context
from .flows import Flow, flow
from .futures import DoneAndNotDoneFutures, TaskRunFuture, as_completed, unmapped, wait
from .logs import RunLogger, flow_run_logger, get_run_logger, task_run_logger
from .parameters import ParameterBindError, ParameterTypeError
from .retries import exponential_backoff
from .runnables import Runnable
from .runners import ThreadPoolTaskRunner
from .tasks import Task, task
from .transactions import Transaction, transaction
from .transitions import RUN_KINDS, RunKind, observers, set_state

__all__ = [
    "RUN_KINDS",
    "DoneAndNotDoneFutures",
    "Flow",
    "ParameterBindError",
    "ParameterTypeError",
    "RunContext",
    "RunKind",
    "RunLogger",
    "Runnable",
    "Task",
    "TaskRunFuture",
    "ThreadPoolTaskRunner",
    "Transaction",
    "as_completed",
    "cancel_flow_run",
    "current_context",
    "exponential_backoff",
    "flow",
    "flow_run_logger",
    "get_run_context",
    "get_run_logger",
    "observers",
    "preparers",
    "set_state",
    "task",
    "task_run_logger",
    "transaction",
    "unmapped",
    "wait",
]
