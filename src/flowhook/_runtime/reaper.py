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
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

import attrs

from flowhook_hookspec import states
from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.serde import converter
from flowhook_hookspec.states import State

from .._engine import (
    RUN_KINDS,
    RunContext,
    Runnable,
    current_context,
    flow_context,
    set_state,
    task_context,
)
from ..notifications import Router
from ..store import (
    EventRecord,
    OutboxEntry,
    ProcessRecord,
    RunRecord,
    Store,
    StoreSettings,
    death_reason,
    hostname,
    load_settings,
    local_worker_death,
    local_worker_id,
    open_store,
)
from .exits import apply_exit_notes, utc
from .routing import load_router_of

if TYPE_CHECKING:
    from .._engine import Flow, Task

__all__ = [
    "ReapedRun",
    "RecordedOwner",
    "claimant_is_dead",
    "reap",
    "rebuild_run",
    "release_dead_claims",
]

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


def crash_message(process: ProcessRecord, reason: str) -> str:
    return (
        f"The process that ran it died: {reason} (pid {process.pid} on {process.host}, started "
        f"{utc(process.started)}, last seen alive {utc(process.last_heartbeat)}). Found by pid "
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
        return flow_context(flow, run)
    task = cast("Task[..., Any] | None", owner if isinstance(owner, Runnable) else None)
    return task_context(RunContext(flow_run=flow_run), task, run)


def _exit_reason(process: ProcessRecord) -> str:
    assert process.exited is not None
    return f"it exited at {utc(process.exited)} while the run was still running"


def reap(
    store: Store | None = None,
    *,
    settings: StoreSettings | None = None,
    now: float | None = None,
    worker: str | Callable[[], str] | None = None,
) -> list[ReapedRun]:
    """Crash the runs of dead processes and fire their hooks; returns the runs this call crashed.

    Each run is crashed, its alerts queued and its hooks recorded as due, in one transaction;
    the hooks are then fired run by run, each marked done once it ran. ``worker`` identifies
    this reaper (default: this process, unregistered), or gives its id when it first claims
    something (a command registers only then): the hooks a reaper that died left due are
    fired by the next one. A KeyboardInterrupt or SystemExit raised by a hook
    is re-raised once every hook has run.
    """
    settings = settings or load_settings()
    if store is None:
        store = open_store(settings)
        try:
            return reap(store, settings=settings, now=now, worker=worker)
        finally:
            store.close()
    now = store.clock() if now is None else now
    claimant = _claimant(worker)
    apply_exit_notes(store, settings)
    owners = _Owners()
    router: Router | None = None
    reaped: list[ReapedRun] = []
    for process in store.unfinished_processes():
        if process.exited is not None:
            reason: str | None = _exit_reason(process)
        else:
            reason = death_reason(process, now, settings.crash_after_seconds)
        if reason is None:
            continue
        message = crash_message(process, reason)
        crashed_state = states.Crashed(message)
        if router is None:
            router = load_router_of(store)
        alerts = _alerts(store, process, crashed_state, router, owners) if router else {}
        crashed = store.crash_runs(process.id, crashed_state, alerts=alerts, hooks_by=claimant())
        # Messages the dead process claimed but may not have sent: free them for delivery.
        store.release_outbox_claims(f"{process.id}:")
        for kind, run_id in crashed:
            record = store.get_run(kind, run_id)
            if record is not None:
                reaped.append(ReapedRun(record, process, message))
                logger.info("%s run %r (%s) crashed: %s", kind, record.name, run_id, message)
    pending = _fire_due_hooks(store, claimant, now, settings.crash_after_seconds, owners)
    release_dead_claims(store, now, settings.crash_after_seconds)
    if pending is not None:
        raise pending
    return reaped


def _rebuilt(store: Store, record: RunRecord) -> FlowRun | TaskRun:
    return rebuild_run(record, store.events(record.id, record.flow_run_id or record.id))


def _alerts(
    store: Store, process: ProcessRecord, crashed: State, router: Router, owners: _Owners
) -> dict[str, tuple[OutboxEntry, ...]]:
    """The messages the rules send for each unfinished run of ``process`` entering ``crashed``:
    queued with the Crashed state itself, in one transaction."""
    rebuilt = [(record, _rebuilt(store, record)) for record in store.unfinished_runs(process.id)]
    for _, run in rebuilt:
        run.state = attrs.evolve(crashed, run_id=run.id)
        run.state_history.append(run.state)
    flow_runs = {run.id: run for _, run in rebuilt if isinstance(run, FlowRun)}
    alerts: dict[str, tuple[OutboxEntry, ...]] = {}
    for record, run in rebuilt:
        parent = (
            flow_runs.get(run.flow_run_id)
            if isinstance(run, TaskRun) and run.flow_run_id is not None
            else None
        )
        owner = owners.get(record)
        try:
            alerts[record.id] = router.entries(record.kind, owner, run, run.state, parent)
        except Exception:
            logger.exception("could not prepare the notifications of crashed run %r", run.name)
    return alerts


def _claimant(worker: str | Callable[[], str] | None) -> Callable[[], str]:
    """The reaper's claimant id, asked for when it first claims something, once."""
    if isinstance(worker, str):
        return lambda: worker
    found: list[str] = []

    def claimant() -> str:
        if not found:
            found.append(worker() if worker is not None else local_worker_id("reap"))
        return found[0]

    return claimant


def _fire_due_hooks(
    store: Store, claimant: Callable[[], str], now: float, crash_after: float, owners: _Owners
) -> BaseException | None:
    """Fire the hooks of every crashed run whose hooks are due: this reaper's, and those a dead
    reaper left. Returns the first KeyboardInterrupt or SystemExit a hook raised."""
    pending: BaseException | None = None
    flow_runs: dict[str, FlowRun | None] = {}
    for due in store.crash_hooks():
        worker = claimant()
        if due.claimed_by != worker:
            if not claimant_is_dead(store, due.claimed_by, now, crash_after):
                continue
            if not store.claim_crash_hook(due.run_id, due.claimed_by, worker):
                continue
        record = store.get_run(due.run_kind, due.run_id)
        if record is None:  # pruned meanwhile
            store.crash_hook_fired(due.run_id)
            continue
        run = _rebuilt(store, record)
        parent: FlowRun | None = None
        if isinstance(run, TaskRun) and record.flow_run_id is not None:
            if record.flow_run_id not in flow_runs:
                flow_record = store.get_run("flow", record.flow_run_id)
                flow_runs[record.flow_run_id] = (
                    None if flow_record is None else cast(FlowRun, _rebuilt(store, flow_record))
                )
            parent = flow_runs[record.flow_run_id]
        owner = owners.get(record)
        crashed_state = _as_before_the_crash(run)
        token = current_context.set(_run_context(owner, run, parent))
        try:
            set_state(RUN_KINDS[record.kind], owner, run, crashed_state, recorded=True)
        except BaseException as exc:  # a hook's: re-raised once every run's hooks have run
            pending = pending or exc
        finally:
            current_context.reset(token)
        store.crash_hook_fired(due.run_id)
    return pending


def claimant_is_dead(store: Store, claimant: str, now: float, crash_after: float) -> bool:
    """Whether the process behind a claimant id is dead, ``now`` being the store's clock
    (:meth:`~flowhook.store.Store.clock`). A registered process (``<process id>:<pid>``: one
    that runs flows, ``flowhook watch``, ``deliver``, ``runs reap``, ``ui``) by its process
    row: its pid on this host, its heartbeat on another. An unregistered one
    (:func:`~flowhook.store.local_worker_id`, a command that could not register, or of an
    older flowhook) by its pid and start time on this host; on another it is never known dead
    here, and its outbox claims expire with their lease."""
    head = claimant.split(":", 1)[0]
    if head.isdigit():
        process = store.process(int(head))
        return (
            process is None
            or process.exited is not None
            or death_reason(process, now, crash_after) is not None
        )
    return local_worker_death(claimant) is not None


def release_dead_claims(store: Store, now: float, crash_after: float) -> None:
    """Free the outbox messages claimed by processes that died, on any host, so that they are
    sent again (see :func:`claimant_is_dead`)."""
    for claimant in store.outbox_claimants():
        if claimant_is_dead(store, claimant, now, crash_after):
            head = claimant.split(":", 1)[0]
            store.release_outbox_claims(f"{head}:" if head.isdigit() else claimant)
