"""The run context, where Prefect users import it: ``from flowhook.context import ...``.

``get_run_context()`` returns a :class:`TaskRunContext` in a task run, else a
:class:`FlowRunContext`; ``FlowRunContext.get()`` and ``TaskRunContext.get()`` return None
where there is no such run. ``tags(...)`` adds tags to the runs created in its block.
"""

from ._engine import (
    FlowRunContext,
    RunContext,
    TagsContext,
    TaskRunContext,
    get_run_context,
    tags,
)

__all__ = [
    "FlowRunContext",
    "RunContext",
    "TagsContext",
    "TaskRunContext",
    "get_run_context",
    "tags",
]
