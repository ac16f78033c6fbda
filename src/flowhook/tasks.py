"""Tasks, where Prefect users look for them: ``from flowhook.tasks import task, exponential_backoff``."""

from ._engine import Task, TaskRunFuture, exponential_backoff, task

__all__ = ["Task", "TaskRunFuture", "exponential_backoff", "task"]
