"""The engine: states in motion. It imports the contract and the plugins layer, nothing else.

What the layers above use is exported here; the modules behind it are the engine's own.
"""

from .calls import preparers
from .cancellation import cancel_flow_run
from .context import RunContext, get_run_context, get_run_logger
from .context import current as current_context
from .flows import Flow, flow
from .futures import TaskRunFuture, unmapped
from .retries import exponential_backoff
from .runnables import Runnable
from .runners import ThreadPoolTaskRunner
from .tasks import Task, task
from .transactions import Transaction, transaction
from .transitions import RUN_KINDS, RunKind, observers, set_state

__all__ = [
    "RUN_KINDS",
    "Flow",
    "RunContext",
    "RunKind",
    "Runnable",
    "Task",
    "TaskRunFuture",
    "ThreadPoolTaskRunner",
    "Transaction",
    "cancel_flow_run",
    "current_context",
    "exponential_backoff",
    "flow",
    "get_run_context",
    "get_run_logger",
    "observers",
    "preparers",
    "set_state",
    "task",
    "transaction",
    "unmapped",
]
