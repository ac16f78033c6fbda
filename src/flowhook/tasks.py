"""Tasks, where Prefect users look for them: ``from flowhook.tasks import task, task_input_hash``."""

from __future__ import annotations

from typing import Any

from ._engine import Task, TaskRunContext, TaskRunFuture, exponential_backoff, task

__all__ = ["Task", "TaskRunFuture", "exponential_backoff", "task", "task_input_hash"]


def task_input_hash(context: TaskRunContext, arguments: dict[str, Any]) -> str | None:
    """A ``cache_key_fn`` keyed on the task and its inputs, as Prefect's: the task's
    ``task_key``, its function's bytecode (a changed body misses the cache) and the arguments.

    Returns None, meaning "do not cache", when the arguments cannot be hashed.
    """
    from ._engine.hashing import hash_objects  # on first use: only a cached task needs it

    if context.task is None:
        return None
    return hash_objects(context.task.task_key, context.task.fn.__code__.co_code.hex(), arguments)
