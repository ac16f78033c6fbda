"""Live updates of a run page: server-sent events, one stream per open page.

The stream polls the store (every :data:`POLL_SECONDS`, a read of the run's row and of the
counts of its task runs by state, both from an index) and sends a ``change`` event whenever they differ from what the
page last showed; the page's script then fetches the parts that changed. Polling works the same
on both stores and whichever process writes the run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import anyio
from starlette.requests import Request
from starlette.responses import StreamingResponse

from flowhook.store import RunRecord, Store
from flowhook.views import NoSuchRun, find_run, task_counts, version

__all__ = ["POLL_SECONDS", "run_events"]

#: How often an open stream reads the store: a transition shows within this and one fetch.
POLL_SECONDS = 0.25
#: A comment line this often keeps proxies from closing an idle stream.
_KEEPALIVE_SECONDS = 15.0
#: Above this many task runs, a stream reads the store every 2 s.
_MANY_TASK_RUNS = 2000


def _current(store: Store, run_id: str) -> tuple[RunRecord, str, int] | None:
    """The run, the version of its page, and how many task runs it has."""
    try:
        run = find_run(store, run_id)
    except NoSuchRun:
        return None
    counts = task_counts(store, run.id) if run.kind == "flow" else []
    return run, version(run, counts), sum(count for _, count in counts)


def _interval(task_runs: int) -> float:
    """Seconds between two reads: a run of many task runs is read less often (each read
    counts them all)."""
    return POLL_SECONDS if task_runs <= _MANY_TASK_RUNS else POLL_SECONDS * 8


def run_events(
    request: Request, store: Callable[[], Store | None], run_id: str, seen: str
) -> StreamingResponse:
    """The ``change`` events of one run, from the version ``seen`` on; the stream ends once the
    run is final."""

    async def stream() -> AsyncIterator[str]:
        last, quiet, interval = seen, 0.0, POLL_SECONDS
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
            opened = store()
            found = (
                None if opened is None else await anyio.to_thread.run_sync(_current, opened, run_id)
            )
            if found is not None:
                run, current, task_runs = found
                interval = _interval(task_runs)
                if current != last:
                    last, quiet = current, 0.0
                    data = {"version": current, "state": run.state_name, "final": run.is_final}
                    yield f"event: change\ndata: {json.dumps(data)}\n\n"
                if run.is_final:  # nothing more will change
                    return
            if quiet >= _KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                quiet = 0.0
            await anyio.sleep(interval)
            quiet += interval

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
