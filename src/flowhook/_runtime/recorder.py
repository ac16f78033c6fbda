"""The recorder: the engine observer that turns transitions into store writes.

It is attached by :mod:`.attach`. For every transition it queues the run's new state, and the
outbox entries of the notification rules that match it, in one write, so that a message is
durable exactly when the state that caused it is. What is durable when:

- task transitions go to the background writer and are written in batches; a flow's task run
  first waits to end, for the writer's linger at most, to go as one record (:mod:`.held_runs`);
- a flow run's first Running, and that of a task run called outside any flow, is written before
  its body starts (the caller waits);
- when a top-level run (a flow run, or a task run outside any flow) reaches a final state,
  everything queued is written before the call returns or raises.

The records runs log go the same way, in the same batches (see :mod:`.run_logs`).

A store error is logged on logger ``flowhook.store`` and never fails a run.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import sys
import time
import traceback
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from flowhook_hookspec.notify import MASK, Secret
from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.serde import converter
from flowhook_hookspec.states import FINAL_TYPES, State, StateType

from .._engine import RunContext, RunKind, RunOwner, current_context, observers
from ..notifications import DeliveryWorker, Router
from ..store import (
    COMPLETED_RUN_STATES,
    BatchWriter,
    Heartbeat,
    HookError,
    PlainRecord,
    ProcessExit,
    RunKindName,
    Store,
    StoreSettings,
    Write,
    new_run_record,
    transition_record,
)
from .exits import write_exit_note
from .held_runs import HELD, HeldRuns, plain
from .requests import deliver_cancel, deliver_resume
from .routing import outbox_entries
from .run_logs import RUN_LOGGERS, RunLogCapture

if TYPE_CHECKING:
    from .writer_process import ProcessWriter

__all__ = ["Recorder", "import_path", "parameters_json"]

logger = logging.getLogger("flowhook.store")

#: Compared on every transition: a module global is faster to read than the enum's member.
_PAUSED = StateType.PAUSED
_COMPLETED = StateType.COMPLETED
_RUNNING = StateType.RUNNING
#: The states a task run's held states are (:mod:`.held_runs`), as a rule names them (name, type).
_HOLDABLE = frozenset(name for state in COMPLETED_RUN_STATES for name in (state, state.upper()))

#: A parameter whose JSON form is longer than this is recorded as its type name only.
MAX_PARAMETER_CHARS = 4096


def import_path(owner: object) -> str | None:
    """``module:qualname`` of the function behind a flow or task."""
    fn = getattr(owner, "fn", None)
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if module == "__main__":
        # Run with ``python -m name``: the module can be imported as ``name`` (never a
        # package's ``__main__``, whose import would run the program).
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        name = getattr(spec, "name", None)
        if isinstance(name, str) and name and not name.endswith("__main__"):
            module = name
    return f"{module}:{qualname}"


class _NotRecorded(Exception):
    pass


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data, or _NotRecorded: only data, never an object's insides."""
    if isinstance(value, Secret):
        return MASK
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth < 5 and isinstance(value, (list, tuple)):
        return [_plain(item, depth + 1) for item in value]
    if depth < 5 and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {key: _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (datetime, uuid.UUID, enum.Enum)):
        return converter.unstructure(value)
    if isinstance(value, date):
        return value.isoformat()
    raise _NotRecorded


def parameters_json(parameters: Mapping[str, Any]) -> str:
    """A JSON object of the parameters that are plain data (secrets masked); any other value,
    or one whose JSON is too long, is recorded as a note naming its type."""
    items = []
    for name, value in parameters.items():
        try:
            text: str | None = json.dumps(_plain(value))
        except (_NotRecorded, TypeError, ValueError):
            text = None
        if text is None or len(text) > MAX_PARAMETER_CHARS:
            text = json.dumps(f"<{type(value).__name__}, not recorded>")
        items.append(f"{json.dumps(name)}: {text}")
    return "{" + ", ".join(items) + "}"


def _traceback(state: State) -> str | None:
    exc = state.data
    if not isinstance(exc, BaseException) or state.type is StateType.COMPLETED:
        return None
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class Recorder:
    """Turns the engine's transitions into store writes."""

    def __init__(
        self,
        settings: StoreSettings,
        store: Store,
        process_id: int,
        writer: BatchWriter | ProcessWriter,
        router: Router | None = None,
        delivery: DeliveryWorker | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.process_id = process_id
        self.writer = writer
        self.router = router or Router()
        self.delivery = delivery
        self.heartbeat = Heartbeat(
            store, process_id, settings.heartbeat_seconds, deliver_cancel, deliver_resume
        )
        if delivery is not None:
            delivery.claiming = self.heartbeat.claiming
        #: Each tag tuple's JSON, and each flow's or task's import path, made once.
        self._tags: dict[tuple[str, ...], str] = {}
        self._paths: dict[int, tuple[RunOwner, str | None]] = {}
        self.logs = RunLogCapture(writer.submit, settings.run_log_limit)
        #: Read on every task transition: the state types and names the task rules are about
        #: (the router's own, so that most transitions route nothing without a Python call).
        self._task_types, self._task_names = self.router.watched["task"]
        #: A flow's task runs' first states wait (:mod:`.held_runs`) unless a rule is about them.
        self.held = HeldRuns(writer, self._new_run, getattr(writer, "linger", 0.05))
        self._holding = self._task_names.isdisjoint(_HOLDABLE)

    @property
    def worker_id(self) -> str:
        """This process's claimant id, for outbox claims and crashed runs' hooks."""
        return f"{self.process_id}:{os.getpid()}"

    def _import_path(self, owner: RunOwner) -> str | None:
        """:func:`import_path`, once per flow or task (the owner is kept so that its id is not
        reused)."""
        found = self._paths.get(id(owner))
        if found is None or found[0] is not owner:
            found = self._paths[id(owner)] = (owner, import_path(owner))
        return found[1]

    def _new_run(self, owner: RunOwner, run: FlowRun | TaskRun, created: float) -> PlainRecord:
        """The run's :class:`~flowhook.store.NewRun` as a plain record (see
        :func:`~flowhook.store.new_run_record`), created at its first state's time (``created``,
        in seconds)."""
        tags = self._tags.get(run.tags)
        if tags is None:
            tags = self._tags[run.tags] = json.dumps(list(run.tags))
        path, process_id = self._import_path(owner), self.process_id
        if isinstance(run, FlowRun):
            parameters = parameters_json(run.parameters)
            return new_run_record(
                "flow", run.id, run.name, run.flow_name, path, created, process_id, None,
                run.parent_flow_run_id, run.parent_task_run_id, tags, parameters,
            )  # fmt: skip
        return new_run_record(
            "task", run.id, run.name, run.task_name, path, created, process_id, run.flow_run_id,
            None, None, tags,
        )  # fmt: skip

    def observe(
        self, kind: RunKind, owner: RunOwner, run: FlowRun | TaskRun, old: State | None, new: State
    ) -> None:
        """The engine observer (a :class:`~flowhook._engine.TransitionObserver`).

        A task run inside a flow run (nearly every transition) only queues its writes, first
        held (:mod:`.held_runs`): it is never waited for, and counts no log records of its own.
        Its writes are plain records (:func:`~flowhook.store.transition_record`).
        """
        try:
            flow_run_id = getattr(run, "flow_run_id", None)
            if flow_run_id is not None and self._holding:
                entry = self.held.runs.get(id(run))
                if entry is None:
                    if (
                        old is None
                        and plain(new, "Pending")
                        and run.run_count == 0
                        and self.held.hold(owner, run)
                    ):
                        return
                elif new.type is _RUNNING and plain(new, "Running") and run.run_count == 1:
                    entry[HELD] = 2
                    return
                elif self.held.end(entry, run, new):
                    return
            if (
                flow_run_id is None
                or new.type is _PAUSED
                or (old is not None and old.type is _PAUSED)
            ):
                self._observe_run(kind, owner, run, old, new)
                return
            tb = None if new.data is None or new.type is _COMPLETED else _traceback(new)
            transition = transition_record(
                "task", run.id, flow_run_id, new, run.run_count, run.start_time, run.end_time, tb
            )
            # A record's field 6 is its state's time in seconds: the run's creation time.
            writes: tuple[Write, ...] = (
                (transition,)
                if old is not None
                else (self._new_run(owner, run, transition[6]), transition)
            )
            if new.type in self._task_types or new.name in self._task_names:
                writes += outbox_entries(self.router, "task", owner, run, new)
            self.writer.submit(writes)
        except Exception:
            logger.exception("could not record a transition of run %r", getattr(run, "name", run))

    def _observe_run(
        self, kind: RunKind, owner: RunOwner, run: FlowRun | TaskRun, old: State | None, new: State
    ) -> None:
        """A transition of a flow run, of a task run outside any flow, or into or out of Paused."""
        # Told apart by the run's type: mypy follows each branch's fields.
        if isinstance(run, FlowRun):
            is_flow, history_id = True, run.id
            parent = run.parent_flow_run_id
            top_level = parent is None
        else:
            is_flow, parent, flow_run_id = False, None, run.flow_run_id
            top_level = flow_run_id is None
            history_id = run.id if flow_run_id is None else flow_run_id
        name = kind.name
        transition = transition_record(
            name,
            run.id,
            history_id,
            new,
            run.run_count,
            run.start_time,
            run.end_time,
            None if new.data is None else _traceback(new),
        )
        writes: tuple[Write, ...]
        if old is None:
            writes = (self._new_run(owner, run, transition[6]), transition)
            if top_level:
                self.heartbeat.run_started()
            if is_flow or top_level:  # the runs that count their log records
                self.logs.run_created(str(run.id), None if parent is None else str(parent))
        else:
            writes = (transition,)
        if self.router:
            writes += outbox_entries(self.router, name, owner, run, new)
        final = new.type in FINAL_TYPES
        if final and (is_flow or top_level):
            dropped = self.logs.run_ended(
                str(run.id), top_level=top_level, logger_name=RUN_LOGGERS[0 if is_flow else 1]
            )
            if dropped is not None:
                writes += (dropped,)
        if (final and top_level) or ((is_flow or top_level) and _awaited(old, new)):
            self.held.release()
            self.writer.submit_and_wait(writes)
        else:
            self.writer.submit(writes)
        if final and top_level:
            self.heartbeat.run_finished()
        if old is not None and old.type is _PAUSED:
            self.heartbeat.pause_ended()
        elif new.type is _PAUSED:
            self.heartbeat.pause_started()

    def hook_error(self, record: logging.LogRecord) -> bool:
        """A filter on logger ``flowhook.hooks``: records the errors of state hooks with their run."""
        try:
            current = current_context.get()
            if record.levelno >= logging.ERROR and current is not None:
                self._record_hook_error(record, current)
        except Exception:
            pass
        return True

    def _record_hook_error(self, record: logging.LogRecord, current: RunContext) -> None:
        kind: RunKindName
        if current.task_run is not None:
            kind, run_id = "task", current.task_run.id
            history_id = current.task_run.flow_run_id or run_id
        elif current.flow_run is not None:
            kind, run_id = "flow", current.flow_run.id
            history_id = run_id
        else:
            return
        tb = None
        if record.exc_info and record.exc_info[1] is not None:
            tb = "".join(traceback.format_exception(*record.exc_info))
        error = HookError(kind, run_id, history_id, record.created, record.getMessage(), tb)
        self.held.release()  # its run's states first
        self.writer.submit((error,))

    def flush(self) -> bool:
        """Wait until every transition recorded so far is written (False: not all were)."""
        self.held.release()
        return self.writer.flush()

    def start(self) -> None:
        self.held.start()
        observers.append(self.observe)
        logging.getLogger("flowhook.hooks").addFilter(self.hook_error)
        self.logs.install()

    def stop(self) -> None:
        """Stop observing; apply what is queued, with this process's exit; close the store.

        When the store does not take it all, an exit note says that this process exited
        normally (see :mod:`.exits`): its unfinished runs are then not taken for crashed.
        """
        self.forget()
        self.held.stop()
        self.heartbeat.stop()
        if self.delivery is not None:
            self.delivery.stop()
        self.writer.submit((ProcessExit(self.process_id, time.time()),))
        self.writer.close()
        if not self.writer.everything_written:
            write_exit_note(
                self.settings,
                self.store,
                self.process_id,
                self.writer.held_back,
                self.writer.last_error,
            )
        self.store.close()

    def forget(self) -> None:
        """Stop observing, without touching threads or connections (after a fork)."""
        if self.observe in observers:
            observers.remove(self.observe)
        logging.getLogger("flowhook.hooks").removeFilter(self.hook_error)
        self.logs.uninstall()


def _awaited(old: State | None, new: State) -> bool:
    """Whether a transition of a flow run or of a standalone task run is durable before the
    caller goes on (a top-level end is, too): its start, so that a crash finds it, before the
    body runs; a pause and the resume that ends it, which another process waits to see."""
    if old is None:
        return False
    if new.type is StateType.RUNNING:
        return old.is_pending() or old.type is _PAUSED
    return new.type is _PAUSED
