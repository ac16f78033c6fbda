"""What is known of one run: its record, process, state history, task runs, subflow runs,
hook errors, failures, logs and notifications, read from the store in one place.

``flowhook runs show`` prints it and the UI's run page renders it. Notification texts are
masked with the secrets of their block (the same :func:`~flowhook_hookspec.notify.redact`
that masks them before they are stored), so that a secret reaches neither.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

import attrs

from flowhook.store import (
    EventRecord,
    HookErrorRecord,
    LogRecord,
    OutboxRecord,
    ProcessRecord,
    RunRecord,
    Store,
)
from flowhook_hookspec.errors import FlowhookError
from flowhook_hookspec.notify import Secret, redact
from flowhook_hookspec.states import StateType

from .trace import recorded_trace_id

__all__ = ["LOGS_SHOWN", "Failure", "RunDetail", "history_id", "masked", "run_detail", "version"]

#: The log records a run's detail holds; ``flowhook runs logs`` prints them all.
LOGS_SHOWN = 1000
#: The failed task runs whose failure the detail spells out.
FAILURES_SHOWN = 3
_FAILED = ("FAILED", "CRASHED")


@attrs.frozen
class Failure:
    """Why a run failed: the exception of its last failing state, with the traceback."""

    run: RunRecord
    type: str
    message: str
    traceback: str | None


@attrs.frozen
class RunDetail:
    """Everything the run page and ``flowhook runs show`` tell of one run."""

    run: RunRecord
    process: ProcessRecord | None
    #: The run's own states, oldest first.
    events: list[EventRecord]
    task_runs: list[RunRecord]
    #: The states of each task run, by its id.
    task_events: dict[str, list[EventRecord]]
    subflow_runs: list[RunRecord]
    hook_errors: list[HookErrorRecord]
    #: The flow run this run belongs to (a task run's) or was called from (a subflow's).
    parent: RunRecord | None
    #: The run's failure, then those of its first failed task runs.
    failures: list[Failure]
    #: How many failed task runs ``failures`` leaves out.
    more_failed_tasks: int
    #: The first :data:`LOGS_SHOWN` log records.
    logs: list[LogRecord]
    #: The notifications sent (or to send) about the flow run, masked.
    notifications: list[OutboxRecord]
    #: When this was read.
    now: float
    #: The trace a tracing plugin (flowhook-otel) recorded the run in, if any.
    trace_id: str | None = None

    @property
    def cancellable(self) -> bool:
        """Whether a cancel of this run may be asked for (see :mod:`.cancel`)."""
        return self.run.kind == "flow" and not self.run.is_final

    @property
    def task_states(self) -> list[tuple[str, int]]:
        """How many task runs are in each state type, in the order of :class:`StateType`."""
        counts: dict[str, int] = {}
        for task in self.task_runs:
            counts[task.state_type] = counts.get(task.state_type, 0) + 1
        return [(state.value, counts[state.value]) for state in StateType if state.value in counts]


def history_id(run: RunRecord) -> str:
    """The id the store files a run's history under: its flow run's (a task run's own for a
    task run called outside any flow)."""
    return run.id if run.kind == "flow" else run.flow_run_id or run.id


def _failure(run: RunRecord, events: list[EventRecord]) -> Failure | None:
    """The exception of the last event that carries one."""
    for event in reversed(events):
        exception = event.state.get("exception")
        if exception is not None:
            return Failure(run, exception["type"], exception["message"], event.traceback)
    return None


def _failures(
    run: RunRecord,
    own: list[EventRecord],
    tasks: list[RunRecord],
    by_run: dict[str, list[EventRecord]],
) -> tuple[list[Failure], int]:
    found = [_failure(run, own)] if run.state_type in _FAILED else []
    failed = [task for task in tasks if task.state_type in _FAILED]
    found += [_failure(task, by_run.get(task.id, [])) for task in failed[:FAILURES_SHOWN]]
    return [failure for failure in found if failure is not None], max(
        0, len(failed) - FAILURES_SHOWN
    )


def _parent(store: Store, run: RunRecord) -> RunRecord | None:
    parent_id = run.flow_run_id or run.parent_flow_run_id
    return None if parent_id is None else store.get_run("flow", parent_id)


def run_detail(store: Store, run: RunRecord, now: float | None = None) -> RunDetail:
    """The detail of ``run`` (found with :func:`~flowhook.views.query.find_run`)."""
    is_flow = run.kind == "flow"
    history = history_id(run)
    by_run: dict[str, list[EventRecord]] = {}
    for event in store.history(history):
        by_run.setdefault(event.run_id, []).append(event)
    own = by_run.get(run.id, [])
    tasks = store.task_runs(run.id) if is_flow else []
    failures, more = _failures(run, own, tasks, by_run)
    return RunDetail(
        run=run,
        process=None if run.process_id is None else store.process(run.process_id),
        events=own,
        task_runs=tasks,
        task_events={task.id: by_run.get(task.id, []) for task in tasks},
        subflow_runs=store.subflow_runs(run.id) if is_flow else [],
        hook_errors=[e for e in store.hook_errors(history) if is_flow or e.run_id == run.id],
        parent=_parent(store, run),
        failures=failures,
        more_failed_tasks=more,
        logs=store.run_logs(run.id, limit=LOGS_SHOWN),
        notifications=masked(store.list_outbox(flow_run_id=history)) if is_flow else [],
        now=time.time() if now is None else now,
        trace_id=recorded_trace_id(store, run),
    )


def version(run: RunRecord, task_runs: list[RunRecord]) -> str:
    """A short digest of what a run's detail shows that may change: the states of the run and
    of each of its task runs, and whether a cancel was asked for."""
    seen = repr(
        (
            run.state_name,
            run.end_time,
            run.cancel_requested,
            [(task.id, task.state_name, task.end_time) for task in task_runs],
        )
    )
    return hashlib.blake2b(seen.encode(), digest_size=8).hexdigest()


def _block_secrets(blocks: Iterable[str]) -> dict[str, tuple[Secret, ...]]:
    from flowhook.notifications import (
        Block,  # the notifiers' registry: only when there is a message
    )

    found: dict[str, tuple[Secret, ...]] = {}
    for name in blocks:
        try:
            found[name] = Block.load(name).secrets()
        except (FlowhookError, LookupError, OSError):
            found[name] = ()  # gone or broken: its texts were masked before they were stored
    return found


def masked(records: list[OutboxRecord]) -> list[OutboxRecord]:
    """The outbox messages with each text masked with the secrets of its block."""
    if not records:
        return records
    secrets = _block_secrets({record.block for record in records})

    def mask(text: str | None, record: OutboxRecord) -> str | None:
        return None if text is None else redact(text, *secrets[record.block])

    return [
        attrs.evolve(
            record,
            subject=mask(record.subject, record),
            body=mask(record.body, record) or "",
            last_error=mask(record.last_error, record),
        )
        for record in records
    ]
