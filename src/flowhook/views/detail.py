"""What is known of one run: its record, process, state history, a page of its task runs,
subflow runs, hook errors, failures, logs and notifications, read from the store in one place.

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

from .tasks import TaskPage, TaskQuery, task_page
from .trace import recorded_trace_id

__all__ = ["LOGS_SHOWN", "Failure", "RunDetail", "history_id", "masked", "run_detail", "version"]

#: The log records a run's detail holds; ``flowhook runs logs`` prints them all.
LOGS_SHOWN = 1000
#: The failed task runs whose failure the detail spells out.
FAILURES_SHOWN = 3
#: The subflow runs (the first), hook errors and notifications (the newest) a run's detail
#: holds: each is counted, and never read all (a store may hold millions).
SUBFLOWS_SHOWN = 100
HOOK_ERRORS_SHOWN = 100
NOTIFICATIONS_SHOWN = 100
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
    #: The page of the flow run's task runs shown (see :attr:`task_page`); none for a task run.
    task_runs: list[RunRecord]
    #: The states of each task run shown, by its id.
    task_events: dict[str, list[EventRecord]]
    #: The first :data:`SUBFLOWS_SHOWN` subflow runs, in the order they were created.
    subflow_runs: list[RunRecord]
    #: The newest :data:`HOOK_ERRORS_SHOWN` hook errors (a flow run's with its task runs'),
    #: oldest first.
    hook_errors: list[HookErrorRecord]
    #: The flow run this run belongs to (a task run's) or was called from (a subflow's).
    parent: RunRecord | None
    #: The run's failure, then those of its first failed (or crashed) task runs.
    failures: list[Failure]
    #: How many failed task runs ``failures`` leaves out.
    more_failed_tasks: int
    #: The first :data:`LOGS_SHOWN` log records.
    logs: list[LogRecord]
    #: The newest :data:`NOTIFICATIONS_SHOWN` notifications sent (or to send) about the flow
    #: run and its task runs, newest first, masked.
    notifications: list[OutboxRecord]
    #: When this was read.
    now: float
    #: The trace a tracing plugin (flowhook-otel) recorded the run in, if any.
    trace_id: str | None = None
    #: A flow run's page of task runs, with the counts of all of them; None for a task run.
    task_page: TaskPage | None = None
    #: How many subflow runs, hook errors and notifications there are in all.
    subflow_total: int = 0
    hook_error_total: int = 0
    notification_total: int = 0

    @property
    def cancellable(self) -> bool:
        """Whether a cancel of this run may be asked for (see :mod:`.cancel`)."""
        return self.run.kind == "flow" and not self.run.is_final

    @property
    def headings(self) -> dict[str, str]:
        """The titles of the capped lists, with how many there are and, when some are left
        out, which are shown: ``Hook errors (2)``, ``Notifications (100 of 2345 shown, the
        newest)``; by the name of the list."""
        return {
            "subflow_runs": _heading(
                "Subflow runs", len(self.subflow_runs), self.subflow_total, "first"
            ),
            "hook_errors": _heading(
                "Hook errors", len(self.hook_errors), self.hook_error_total, "newest"
            ),
            "notifications": _heading(
                "Notifications", len(self.notifications), self.notification_total, "newest"
            ),
        }

    @property
    def task_states(self) -> list[tuple[str, int]]:
        """How many task runs (all of them, not the page's) are in each state type, in the
        order of :class:`StateType`."""
        return [] if self.task_page is None else self.task_page.counts


def _heading(title: str, shown: int, total: int, which: str) -> str:
    if shown >= total:
        return f"{title} ({total})"
    return f"{title} ({shown} of {total} shown, the {which})"


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
    store: Store, run: RunRecord, own: list[EventRecord], page: TaskPage | None
) -> tuple[list[Failure], int]:
    """The run's failure and those of its first failed task runs (read by state, whichever
    page is shown), and how many failed task runs are left out."""
    found = [_failure(run, own)] if run.state_type in _FAILED else []
    if page is None:
        return [failure for failure in found if failure is not None], 0
    failed = store.task_run_page(run.id, state_types=_FAILED, limit=FAILURES_SHOWN)
    events = store.run_events([task.id for task in failed], run.id)
    found += [_failure(task, events[task.id]) for task in failed]
    count = sum(count for state, count in page.counts if state in _FAILED)
    return [failure for failure in found if failure is not None], count - len(failed)


def _parent(store: Store, run: RunRecord) -> RunRecord | None:
    parent_id = run.flow_run_id or run.parent_flow_run_id
    return None if parent_id is None else store.get_run("flow", parent_id)


def run_detail(
    store: Store, run: RunRecord, now: float | None = None, tasks: TaskQuery | None = None
) -> RunDetail:
    """The detail of ``run`` (found with :func:`~flowhook.views.query.find_run`), with the
    page of its task runs ``tasks`` asks for (the first :data:`~.tasks.TASKS_SHOWN`)."""
    is_flow = run.kind == "flow"
    history = history_id(run)
    page = task_page(store, run.id, tasks or TaskQuery()) if is_flow else None
    shown = [] if page is None else page.runs
    events = store.run_events([run.id, *(task.id for task in shown)], history)
    own = events.pop(run.id)
    failures, more = _failures(store, run, own, page)
    errors, error_total = store.run_hook_errors(
        run.id, with_task_runs=is_flow, limit=HOOK_ERRORS_SHOWN
    )
    subflows, subflow_total = store.subflow_run_page(run.id, SUBFLOWS_SHOWN) if is_flow else ([], 0)
    messages, message_total = (
        store.run_notifications(run.id, NOTIFICATIONS_SHOWN) if is_flow else ([], 0)
    )
    return RunDetail(
        run=run,
        process=None if run.process_id is None else store.process(run.process_id),
        events=own,
        task_runs=shown,
        task_events=events,
        subflow_runs=subflows,
        hook_errors=errors[::-1],
        parent=_parent(store, run),
        failures=failures,
        more_failed_tasks=more,
        logs=store.run_logs(run.id, limit=LOGS_SHOWN),
        notifications=masked(messages),
        now=time.time() if now is None else now,
        trace_id=recorded_trace_id(store, run),
        task_page=page,
        subflow_total=subflow_total,
        hook_error_total=error_total,
        notification_total=message_total,
    )


def version(run: RunRecord, counts: list[tuple[str, int]]) -> str:
    """A short digest of what a run's page shows that may change: the run's state, whether a
    cancel was asked for, and how many of its task runs are in each state type."""
    seen = repr((run.state_name, run.end_time, run.cancel_requested, counts))
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
