"""Task runners, at Prefect's import path: ``from flowhook.task_runners import ProcessPoolTaskRunner``.

``ThreadPoolTaskRunner`` is the default; ``ProcessPoolTaskRunner`` runs task bodies in worker
processes for CPU-bound work. ``TaskRunner`` is the interface every runner satisfies.
"""

from flowhook_hookspec.runners import TaskRunner

from ._engine.process_body import UnpicklableTaskError
from ._engine.process_runner import ProcessPoolTaskRunner
from ._engine.runners import ThreadPoolTaskRunner

#: Prefect's earlier name of the thread pool, which Prefect 3 keeps.
ConcurrentTaskRunner = ThreadPoolTaskRunner

__all__ = [
    "ConcurrentTaskRunner",
    "ProcessPoolTaskRunner",
    "TaskRunner",
    "ThreadPoolTaskRunner",
    "UnpicklableTaskError",
]
