"""Resuming a paused flow run of another process: the request goes through the store."""

from __future__ import annotations

import uuid

from flowhook_hookspec.errors import NotPausedError

from ..store import load_settings, open_store

__all__ = ["request_resume"]


def request_resume(flow_run_id: uuid.UUID) -> None:
    """Ask the process running the paused flow run ``flow_run_id`` to resume it; its process
    reads the request within a second. :class:`NotPausedError` when the store holds the run and
    it is not paused; ``ValueError`` when there is no store or it holds no such flow run."""
    settings = load_settings()
    if not settings.enabled:
        raise ValueError(
            f"no flow run {flow_run_id} is running in this process, and without a store "
            "(FLOWHOOK_STORE=off) a run of another process cannot be resumed"
        )
    store = open_store(settings, create=False)
    try:
        run = store.get_run("flow", str(flow_run_id))
        if run is None:
            raise ValueError(f"no flow run {flow_run_id} is recorded in {store.location}")
        if not store.request_resume(run.id):
            raise NotPausedError(
                f"Cannot resume a run that isn't paused! (flow run {run.name!r} is "
                f"{run.state_name})"
            )
    finally:
        store.close()
