"""Task runners, at Prefect's import path: ``from flowhook.task_runners import ProcessPoolTaskRunner``.

``ThreadPoolTaskRunner`` is the default; ``ProcessPoolTaskRunner`` runs task bodies in worker
processes for CPU-bound work. ``TaskRunner`` is the interface every runner satisfies.
"""

from flowhook_hookspec.runners import TaskRunner

from ._engine.process_body import UnpicklableTaskError
from ._engine.process_runner import ProcessPoolTaskRunner
from ._engine.runners import ThreadPoolTaskRunner

__all__ = ["ProcessPoolTaskRunner", "TaskRunner", "ThreadPoolTaskRunner", "UnpicklableTaskError"]
