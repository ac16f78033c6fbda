"""Pausing and resuming flow runs, where Prefect users import them: ``flowhook.flow_runs``.

from flowhook.flow_runs import pause_flow_run, resume_flow_run
"""

from __future__ import annotations

import uuid
from typing import Any

from ._engine import pause_flow_run, resume_here, suspend_flow_run

__all__ = ["pause_flow_run", "resume_flow_run", "suspend_flow_run"]


def resume_flow_run(flow_run_id: uuid.UUID | str, run_input: Any = None) -> Any:
    """Resume a paused flow run: one of this process from any thread, at once; one of another
    process through the store (that process resumes it within a second).

    In a thread whose event loop is running it returns an awaitable, as Prefect's does
    (``await resume_flow_run(id)``). Raises :class:`~flowhook.exceptions.NotPausedError` when
    the run is not paused, :class:`~flowhook.exceptions.FlowPauseTimeout` when its pause timed
    out already, ``ValueError`` when no such flow run is running here or recorded in the store.
    ``run_input`` (Prefect's run input) is not supported.
    """
    if run_input is not None:
        raise NotImplementedError("run_input is not supported: flowhook has no run input API")
    run_id = flow_run_id if isinstance(flow_run_id, uuid.UUID) else uuid.UUID(str(flow_run_id))
    if _loop_running():
        import asyncio

        return asyncio.to_thread(_resume, run_id)
    _resume(run_id)
    return None


def _resume(run_id: uuid.UUID) -> None:
    if not resume_here(run_id):
        from ._runtime.resuming import request_resume  # the store: only for another process

        request_resume(run_id)


def _loop_running() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
