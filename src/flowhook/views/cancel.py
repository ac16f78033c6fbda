"""Cancelling a flow run: the request, and what to tell the person who asked.

``flowhook runs cancel`` and the UI's Cancel button both call :func:`request_cancel`; a run
that cannot be cancelled (a task run, a run already over) is :class:`CannotCancel`, whose
message says why and what to do instead.
"""

from __future__ import annotations

import time

import attrs

from flowhook.store import RunRecord, Store, StoreSettings, death_reason
from flowhook_hookspec.run_ids import short_run_id

__all__ = ["CancelOutcome", "CannotCancel", "request_cancel"]


class CannotCancel(ValueError):
    """The run cannot be cancelled: the message says why and what would do."""


@attrs.frozen
class CancelOutcome:
    """A cancel asked for: the run, and what happens next, in sentences."""

    run: RunRecord
    lines: tuple[str, ...]


def _refusal(run: RunRecord) -> str | None:
    if run.kind != "flow":
        short = short_run_id(run.id)
        if run.flow_run_id:
            return f"{short} is a task run; cancel its flow run {short_run_id(run.flow_run_id)} instead"
        return f"{short} is a task run outside any flow: only flow runs can be cancelled"
    return None


def _already_over(store: Store, run: RunRecord) -> CannotCancel:
    current = store.get_run("flow", run.id) or run
    return CannotCancel(
        f"flow run {run.name!r} ({short_run_id(run.id)}) is already {current.state_name}; "
        "there is nothing to cancel"
    )


def _next_steps(store: Store, run: RunRecord, settings: StoreSettings) -> str | None:
    process = None if run.process_id is None else store.process(run.process_id)
    if process is None:
        return None
    dead = death_reason(process, store.clock(), settings.crash_after_seconds)
    where = f"pid {process.pid} on {process.host}"
    if dead is None:
        return (
            f"Its process ({where}) will cancel it within about {settings.heartbeat_seconds:g} s."
        )
    return f"But its process ({where}) looks dead ({dead}); 'flowhook runs reap' will mark the run Crashed."


def request_cancel(
    store: Store,
    run: RunRecord,
    message: str,
    settings: StoreSettings,
    now: float | None = None,
) -> CancelOutcome:
    """Ask the process running the flow run ``run`` to cancel it, with ``message`` as the
    Cancelling state's message; :class:`CannotCancel` when it cannot be."""
    refusal = _refusal(run)
    if refusal is not None:
        raise CannotCancel(refusal)
    now = time.time() if now is None else now
    if run.is_final or not store.request_cancel(run.id, message, now):
        raise _already_over(store, run)
    lines = [f"Cancel requested for flow run {run.name!r} ({short_run_id(run.id)})."]
    steps = _next_steps(store, run, settings)
    if steps is not None:
        lines.append(steps)
    return CancelOutcome(run, tuple(lines))
