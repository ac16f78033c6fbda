"""Flow runs and task runs: one execution of a flow or a task.

The engine owns these objects and updates ``state``, ``state_history``, ``run_count`` and the
times as the run moves. Hooks receive them and should treat them as read-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from .states import State

__all__ = ["FlowRun", "TaskRun"]


@attrs.define(eq=False)
class _Run:
    id: UUID
    name: str
    state: State
    parameters: dict[str, Any] = attrs.field(factory=dict)
    tags: tuple[str, ...] = ()
    #: The number of the attempt under way: 1 on the first attempt, 0 before it starts.
    run_count: int = 0
    state_history: list[State] = attrs.field(factory=list)
    start_time: datetime | None = None
    end_time: datetime | None = None

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from the first Running state to the final state, when both exist."""
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


@attrs.define(eq=False)
class FlowRun(_Run):
    """One run of a flow."""

    flow_name: str = ""
    #: The run of the flow that called this one, when it runs as a subflow.
    parent_flow_run_id: UUID | None = None
    #: The task run that called this flow, when a task started it.
    parent_task_run_id: UUID | None = None


@attrs.define(eq=False)
class TaskRun(_Run):
    """One run of a task."""

    task_name: str = ""
    #: The flow run this task run belongs to; ``None`` for a task called outside any flow.
    flow_run_id: UUID | None = None
