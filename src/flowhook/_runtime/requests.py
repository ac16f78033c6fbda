"""What another process asks of this one's runs, through the store (the heartbeat reads it):
cancel a flow run, resume a paused one."""

from __future__ import annotations

import logging
import uuid

from .._engine import cancel_flow_run

__all__ = ["deliver_cancel", "deliver_resume"]

logger = logging.getLogger("flowhook.store")


def deliver_cancel(flow_run_id: str, message: str | None) -> None:
    """Cancel a flow run of this process that another process asked to cancel."""
    try:
        cancel_flow_run(uuid.UUID(flow_run_id), message or "Cancelled from another process")
    except ValueError:
        logger.info("flow run %s is not running in this process any more", flow_run_id)


def deliver_resume(flow_run_id: str) -> None:
    """Resume a paused flow run of this process that another process asked to resume."""
    from .._engine import resume_here

    try:
        resume_here(uuid.UUID(flow_run_id))
    except Exception as exc:  # resumed already, timed out, or ended: nothing to do
        logger.info("flow run %s was not resumed: %s", flow_run_id, exc)
