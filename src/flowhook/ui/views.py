"""What each page shows, read from the store: plain data for the templates, no HTTP.

Every function takes the store and returns a dict of the values its template renders. Secrets
never reach one: outbox texts are masked with the secrets of their block (the same
:func:`~flowhook_hookspec.notify.redact` that masks them before they are stored).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import attrs

from flowhook._plugins import list_plugins
from flowhook.notifications import Block
from flowhook.store import OutboxRecord, RunQuery, RunRecord, Store, recorded_trace_id
from flowhook_hookspec.errors import FlowhookError
from flowhook_hookspec.notify import Secret, redact
from flowhook_hookspec.states import StateType

from .timeline import GROUP_ABOVE, counts_chart, timeline

__all__ = [
    "STATE_TYPES",
    "BadFilter",
    "RunFilters",
    "find_run",
    "outbox_view",
    "plugins_view",
    "run_view",
    "runs_view",
    "version",
]

#: The state types, in the order the legend and the stacked counts show them.
STATE_TYPES = [state.value for state in StateType]
PAGE_SIZE = 50
#: The log records a run page shows; `flowhook runs logs` prints them all.
LOGS_SHOWN = 1000
_COUNT_SLICES = 24
_DEFAULT_RANGE = 24 * 3600.0
_OUTBOX_STATUSES = ("pending", "sent", "dead")


class BadFilter(ValueError):
    """A filter of the runs list that cannot be read (the message says which and why)."""


def _moment(text: str | None, name: str) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):  # not a date, or one the platform cannot place
        raise BadFilter(
            f"{name} must be a date and time like 2026-01-31T09:30, got {text!r}"
        ) from None


@attrs.frozen
class RunFilters:
    """The runs list's query string, checked."""

    flow: str | None = None
    state: str | None = None
    since: str | None = None
    until: str | None = None
    before: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> RunFilters:
        def get(name: str) -> str | None:
            return params.get(name, "").strip() or None

        filters = cls(get("flow"), get("state"), get("since"), get("until"), get("before"))
        filters.query()  # fail early, with the message, on a bad value
        return filters

    def query(self, limit: int = PAGE_SIZE) -> RunQuery:
        before = None
        if self.before:
            created, _, run_id = self.before.partition("_")
            try:
                before = (float(created), run_id)
            except ValueError:
                raise BadFilter(f"before must be a page cursor, got {self.before!r}") from None
        return RunQuery(
            flow_name=self.flow,
            state=self.state,
            since=_moment(self.since, "since"),
            until=_moment(self.until, "until"),
            before=before,
            limit=limit,
        )

    def link(self, **changes: str | None) -> str:
        """The query string of these filters with ``changes``."""
        values = {**attrs.asdict(self), **changes}
        return "?" + urlencode({k: v for k, v in values.items() if v})


def runs_view(store: Store | None, filters: RunFilters) -> dict[str, Any]:
    """The runs list: one page of runs (and the cursor of the next), and counts by state."""
    query = filters.query(limit=PAGE_SIZE + 1)
    runs = [] if store is None else store.list_flow_runs(query)
    following = None
    if len(runs) > PAGE_SIZE:
        runs = runs[:PAGE_SIZE]
        last = runs[-1]
        following = filters.link(before=f"{last.created!r}_{last.id}")
    until = query.until or time.time()
    since = query.since or until - _DEFAULT_RANGE
    counts = (
        []
        if store is None or since >= until
        else store.state_counts(since, until, _COUNT_SLICES, flow_name=filters.flow)
    )
    totals: dict[str, int] = {}
    for count in counts:
        totals[count.state_type] = totals.get(count.state_type, 0) + count.count
    return {
        "runs": runs,
        "filters": filters,
        "next_page": following,
        "first_page": filters.link(before=None) if filters.before else None,
        "states": STATE_TYPES,
        "chart": counts_chart(counts, since, until, _COUNT_SLICES, STATE_TYPES),
        "totals": [(state, totals[state]) for state in STATE_TYPES if state in totals],
        "range": (since, until),
    }


def find_run(store: Store | None, run_id: str) -> RunRecord | None:
    """The flow run, or else the task run, of ``run_id``."""
    if store is None:
        return None
    return store.get_run("flow", run_id) or store.get_run("task", run_id)


def version(run: RunRecord, task_runs: list[RunRecord]) -> str:
    """A short digest of what a run page shows that may change: the states of the run and of
    each of its task runs, and whether a cancel was asked for."""
    seen = repr(
        (
            run.state_name,
            run.end_time,
            run.cancel_requested,
            [(task.id, task.state_name, task.end_time) for task in task_runs],
        )
    )
    return hashlib.blake2b(seen.encode(), digest_size=8).hexdigest()


def run_view(store: Store, run: RunRecord) -> dict[str, Any]:
    """The run page: state, timeline, history and hook errors, parameters, logs,
    notifications, task runs; all of it is live (fetched again on each change)."""
    history_id = run.flow_run_id or run.id
    messages = store.list_outbox(flow_run_id=history_id) if run.kind == "flow" else []
    tasks = store.task_runs(run.id) if run.kind == "flow" else []
    now = time.time()
    by_state: dict[str, int] = {}
    for task in tasks:
        by_state[task.state_type] = by_state.get(task.state_type, 0) + 1
    return {
        "run": run,
        "events": store.events(run.id, history_id),
        "task_runs": tasks,
        "task_states": [(state, by_state[state]) for state in STATE_TYPES if state in by_state],
        "subflows": store.subflow_runs(run.id) if run.kind == "flow" else [],
        "hook_errors": [e for e in store.hook_errors(history_id) if e.run_id == run.id]
        if run.kind == "task"
        else store.hook_errors(history_id),
        "timeline": timeline(run, tasks, now) if tasks else None,
        "grouped": len(tasks) > GROUP_ABOVE,
        "cancellable": run.kind == "flow" and not run.is_final,
        "now": now,
        "version": version(run, tasks),
        "parameters": None
        if run.parameters is None
        else json.dumps(run.parameters, indent=2, default=str),
        "parent": store.get_run("flow", run.flow_run_id or run.parent_flow_run_id or "")
        if (run.flow_run_id or run.parent_flow_run_id)
        else None,
        "logs": store.run_logs(run.id, limit=LOGS_SHOWN),
        "trace_id": recorded_trace_id(store, run),
        "logs_shown": LOGS_SHOWN,
        "task_names": {task.id: task.name for task in tasks},
        "notifications": masked(messages),
    }


def _block_secrets(blocks: Iterable[str]) -> dict[str, tuple[Secret, ...]]:
    found: dict[str, tuple[Secret, ...]] = {}
    for name in blocks:
        try:
            found[name] = Block.load(name).secrets()
        except (FlowhookError, LookupError, OSError):
            found[name] = ()  # gone or broken: its texts were masked before they were stored
    return found


def masked(records: list[OutboxRecord]) -> list[OutboxRecord]:
    """The outbox messages with each text masked with the secrets of its block."""
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


def outbox_view(store: Store | None, status: str | None) -> dict[str, Any]:
    """The outbox page: messages of one status (or all), newest first."""
    if status not in (None, *_OUTBOX_STATUSES):
        raise BadFilter(f"status must be one of {', '.join(_OUTBOX_STATUSES)}, got {status!r}")
    records = [] if store is None else store.list_outbox(status)
    return {"messages": masked(records), "status": status, "statuses": _OUTBOX_STATUSES}


def plugins_view() -> dict[str, Any]:
    """The plugins page: what ``flowhook plugins`` lists."""
    return {"plugins": list_plugins()}
