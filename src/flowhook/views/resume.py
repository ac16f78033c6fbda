"""Resuming a paused flow run: the request, and what to tell the person who asked.

``flowhook runs resume`` and the UI's Resume button both call :func:`request_resume`; a run that
is not a paused flow run is :class:`CannotResume`, whose message says what it is.
"""

from __future__ import annotations

from flowhook.store import RunRecord, Store
from flowhook_hookspec.run_ids import short_run_id

__all__ = ["CannotResume", "request_resume"]


class CannotResume(ValueError):
    """The run is not a paused flow run: the message says what it is."""


def request_resume(store: Store, run: RunRecord) -> str:
    """Ask the process waiting in the paused flow run ``run`` to go on; the sentence to show.
    :class:`CannotResume` when the run is not paused."""
    if run.kind != "flow" or not store.request_resume(run.id):
        current = store.get_run(run.kind, run.id) or run
        raise CannotResume(
            f"{run.kind} run {run.name!r} ({short_run_id(run.id)}) is {current.state_name}, not paused; "
            "there is nothing to resume"
        )
    return f"Resume requested for flow run {run.name!r} ({short_run_id(run.id)})."
