"""Crash detection: runs whose process died are moved to Crashed, with their hooks, by whoever looks.

A process killed by SIGKILL, the OOM killer or a lost machine runs none of its hooks. The reaper
(``flowhook runs reap``, ``flowhook watch``, and every process when it starts its first run)
finds the processes that own unfinished runs, decides which are dead (see
:func:`~flowhook.store.death_reason`), moves their runs to Crashed with a conditional
update (so that of two reapers exactly one crashes each run), and then moves each run it crashed to
Crashed in memory through the engine's :func:`~flowhook._engine.set_state` (``recorded=True``:
the store holds it already), which fires the hooks: the run's own ``on_crashed`` hooks when its
flow or task can be imported from its recorded import path, and the plugins'
``on_*_run_state_change`` and ``on_*_run_crashed``. A flow defined in a
script run as ``__main__`` is never imported (that would run the script); the log says so.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

import attrs

from flowhook_hookspec import states
from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.serde import converter
from flowhook_hookspec.states import State

from .._engine import RUN_KINDS, RunContext, Runnable, current_context, set_state
from ..notifications import Router
from ..store import (
    EventRecord,
    ProcessRecord,
    RunRecord,
    Store,
    StoreSettings,
    death_reason,
    hostname,
    load_settings,
    local_worker_death,
    open_store,
)
from .routing import load_router_of

if TYPE_CHECKING:
    from .._engine import Flow, Task

__all__ = ["ReapedRun", "RecordedOwner", "reap", "rebuild_run", "release_dead_claims"]

logger = logging.getLogger("flowhook.store")


@attrs.frozen
class ReapedRun:
    """A run the reaper moved to Crashed."""

    run: RunRecord
    process: ProcessRecord
    message: str


@attrs.frozen
class RecordedOwner:
    """Stands in for a flow or task the reaper could not import: what the store knows of it."""

    name: str
    import_path: str | None
    tags: tuple[str, ...] = ()


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def crash_message(process: ProcessRecord, reason: str) -> str:
    return (
        f"The process that ran it died: {reason} (pid {process.pid} on {process.host}, started "
        f"{_utc(process.started)}, last seen alive {_utc(process.last_heartbeat)}). Found by pid "
        f"{os.getpid()} on {hostname()}."
    )


def _datetime(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc)


def rebuild_run(record: RunRecord, events: list[EventRecord]) -> FlowRun | TaskRun:
    """A FlowRun or TaskRun as the engine had it, from the store (parameters: flow runs only)."""
    history = [event.state for event in events]
    if not history:
        history = [
            converter.unstructure(
                State(states.StateType(record.state_type), record.state_name, record.state_message)
            )
        ]
    data: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "state": history[-1],
        "parameters": record.parameters or {},
        "tags": list(record.tags),
        "run_count": record.run_count,
        "state_history": history,
        "start_time": _datetime(record.start_time),
        "end_time": _datetime(record.end_time),
    }
    run: FlowRun | TaskRun
    if record.kind == "flow":
        data.update(
            flow_name=record.owner_name,
            parent_flow_run_id=record.parent_flow_run_id,
            parent_task_run_id=record.parent_task_run_id,
        )
        run = converter.structure(data, FlowRun)
    else:
        data.update(task_name=record.owner_name, flow_run_id=record.flow_run_id)
        run = converter.structure(data, TaskRun)
    run.state = run.state_history[-1]
    return run


def _import_owner(import_path: str | None) -> tuple[Runnable[..., Any] | None, str | None]:
    """The flow or task at ``module:qualname``, or None and why it cannot be had."""
    if not import_path:
        return None, "its import path was not recorded"
    module_name, _, qualname = import_path.partition(":")
    if module_name == "__main__":
        return None, (
            f"it was defined in a script run as __main__ ({qualname}), and flowhook never runs a "
            "script to find its hooks; define flows in an importable module to get on_crashed "
            "hooks after a crash"
        )
    if "<" in qualname:
        return None, f"{import_path} cannot be imported (defined inside a function, or a lambda)"
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:
        return None, f"importing {module_name!r} failed ({type(exc).__name__}: {exc})"
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if not isinstance(found, Runnable):
        return None, f"{import_path} is not a flow or task any more"
    return found, None


class _Owners:
    """Imports each recorded flow or task once per reap, and says once why one cannot be."""

    def __init__(self) -> None:
        self._found: dict[str | None, tuple[Runnable[..., Any] | None, str | None]] = {}

    def get(self, record: RunRecord) -> Any:
        path = record.import_path
        if path not in self._found:
            self._found[path] = found = _import_owner(path)
            if found[0] is None:
                logger.warning(
                    "the %s %r crashed in a dead process; its own on_crashed hooks were not run: %s",
                    record.kind,
                    record.owner_name,
                    found[1],
                )
        owner = self._found[path][0]
        if owner is not None:
            return owner
        return RecordedOwner(record.owner_name, record.import_path, record.tags)


def _as_before_the_crash(run: FlowRun | TaskRun) -> State:
    """Take the Crashed state the store now holds off a rebuilt run, so that the engine moves the
    run into it (and fires its hooks) as it would have in the process that died."""
    history = run.state_history
    crashed = history.pop()
    if not history:  # the store kept no earlier state: the run was created, as every run is
        history.append(states.Pending(run_id=run.id))
    run.state = history[-1]
    run.end_time = None
    return crashed


def _run_context(owner: Any, run: FlowRun | TaskRun, flow_run: FlowRun | None) -> Any:
    if isinstance(run, FlowRun):
        flow = cast("Flow[..., Any] | None", owner if isinstance(owner, Runnable) else None)
        return RunContext(flow=flow, flow_run=run)
    task = cast("Task[..., Any] | None", owner if isinstance(owner, Runnable) else None)
    return RunContext(flow_run=flow_run, task=task, task_run=run)


def reap(
    store: Store | None = None,
    *,
    settings: StoreSettings | None = None,
    now: float | None = None,
) -> list[ReapedRun]:
    """Crash the runs of dead processes and fire their hooks; returns the runs this call crashed.

    A KeyboardInterrupt or SystemExit raised by a hook is re-raised once every hook has run.
    """
    settings = settings or load_settings()
    if store is None:
        store = open_store(settings)
        try:
            return reap(store, settings=settings, now=now)
        finally:
            store.close()
    now = time.time() if now is None else now
    reaped: list[ReapedRun] = []
    pending: BaseException | None = None
    owners = _Owners()
    router: Router | None = None
    for process in store.unfinished_processes():
        reason = death_reason(process, now, settings.crash_after_seconds)
        if reason is None:
            continue
        message = crash_message(process, reason)
        crashed = store.crash_runs(process.id, states.Crashed(message))
        # Messages the dead process claimed but may not have sent: free them for delivery.
        store.release_outbox_claims(f"{process.id}:")
        rebuilt: list[tuple[RunRecord, FlowRun | TaskRun]] = []
        for kind, run_id in crashed:
            record = store.get_run(kind, run_id)
            if record is not None:
                history_id = record.flow_run_id or record.id
                rebuilt.append((record, rebuild_run(record, store.events(run_id, history_id))))
        flow_runs = {run.id: run for _, run in rebuilt if isinstance(run, FlowRun)}
        for record, run in rebuilt:
            reaped.append(ReapedRun(record, process, message))
            logger.info("%s run %r (%s) crashed: %s", record.kind, run.name, run.id, message)
            owner = owners.get(record)
            parent = (
                flow_runs.get(run.flow_run_id)
                if isinstance(run, TaskRun) and run.flow_run_id is not None
                else None
            )
            if router is None:
                router = load_router_of(store)
            if router:
                store.enqueue_outbox(router.entries(record.kind, owner, run, run.state, parent))
            crashed_state = _as_before_the_crash(run)
            token = current_context.set(_run_context(owner, run, parent))
            try:
                set_state(RUN_KINDS[record.kind], owner, run, crashed_state, recorded=True)
            except BaseException as exc:  # a hook's: re-raised once every run's hooks have run
                pending = pending or exc
            finally:
                current_context.reset(token)
    release_dead_claims(store, now, settings.crash_after_seconds)
    if pending is not None:
        raise pending
    return reaped


def release_dead_claims(store: Store, now: float, crash_after: float) -> None:
    """Free the outbox messages claimed by processes that died, so that they are sent again:
    flow processes by the store's process records, ``flowhook deliver`` and ``watch`` by their
    pid and start time on this host. Claims of a process on another host expire with their
    lease."""
    for claimant in store.outbox_claimants():
        head = claimant.split(":", 1)[0]
        if head.isdigit():
            process = store.process(int(head))
            if process is None or death_reason(process, now, crash_after) is not None:
                store.release_outbox_claims(f"{head}:")
        elif local_worker_death(claimant) is not None:
            store.release_outbox_claims(claimant)
