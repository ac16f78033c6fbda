"""The JSON forms of runs and of a run's detail: what ``--json`` prints and the UI's
``/api/...`` answers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from flowhook.store import EventRecord, HookErrorRecord, OutboxRecord, ProcessRecord, RunRecord

from .text import utc_iso

if TYPE_CHECKING:
    from .detail import RunDetail
    from .tasks import TaskPage

__all__ = [
    "detail_json",
    "event_json",
    "run_json",
    "runs_json",
    "strict_json",
    "task_page_json",
]

#: How JSON writes the floats it cannot hold (a flow called with ``float("nan")``).
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def strict_json(value: Any) -> Any:
    """``value`` with every NaN and infinity, at any depth, as the strings ``"NaN"``,
    ``"Infinity"`` and ``"-Infinity"``: what strict JSON parsers accept, and what ``float()``
    reads back."""
    if isinstance(value, float):
        return value if math.isfinite(value) else NON_FINITE[repr(value)]
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def run_json(record: RunRecord) -> dict[str, Any]:
    """The JSON form of a run, as ``flowhook runs ls --json`` prints it."""
    data: dict[str, Any] = {
        "id": record.id,
        "kind": record.kind,
        "name": record.name,
        f"{record.kind}_name": record.owner_name,
        "state_type": record.state_type,
        "state_name": record.state_name,
        "state_message": record.state_message,
        "created": utc_iso(record.created),
        "start_time": utc_iso(record.start_time),
        "end_time": utc_iso(record.end_time),
        "duration_seconds": record.duration_seconds,
        "run_count": record.run_count,
        "tags": list(record.tags),
        "import_path": record.import_path,
    }
    if record.kind == "flow":
        data.update(
            parameters=record.parameters,
            parent_flow_run_id=record.parent_flow_run_id,
            parent_task_run_id=record.parent_task_run_id,
            cancel_requested=utc_iso(record.cancel_requested),
        )
    else:
        data["flow_run_id"] = record.flow_run_id
    return data


def runs_json(runs: list[RunRecord]) -> list[dict[str, Any]]:
    return [strict_json(run_json(run)) for run in runs]


def event_json(event: EventRecord, following: EventRecord | None) -> dict[str, Any]:
    """A state event: the converter's form of the state, its traceback, and how long it lasted."""
    duration = None
    if following is not None:
        duration = (following.timestamp - event.timestamp).total_seconds()
    return {**event.state, "traceback": event.traceback, "duration_seconds": duration}


def _events_json(events: list[EventRecord]) -> list[dict[str, Any]]:
    return [
        event_json(event, events[index + 1] if index + 1 < len(events) else None)
        for index, event in enumerate(events)
    ]


def _process_json(process: ProcessRecord | None) -> dict[str, Any] | None:
    if process is None:
        return None
    return {
        "pid": process.pid,
        "host": process.host,
        "started": utc_iso(process.started),
        "last_heartbeat": utc_iso(process.last_heartbeat),
        "command": process.command,
    }


def _hook_error_json(error: HookErrorRecord) -> dict[str, Any]:
    return {
        "run_id": error.run_id,
        "kind": error.kind,
        "timestamp": utc_iso(error.timestamp),
        "description": error.description,
        "traceback": error.traceback,
    }


def _notification_json(message: OutboxRecord) -> dict[str, Any]:
    return {
        "id": message.id,
        "block": message.block,
        "status": message.status,
        "event": message.event,
        "rule": message.rule,
        "subject": message.subject,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "created": utc_iso(message.created),
    }


def task_page_json(page: TaskPage | None) -> dict[str, Any] | None:
    """Which task runs ``task_runs`` holds: the page asked for, the counts of all of them by
    state type, and the cursors of the next and previous pages (None at either end)."""
    if page is None:
        return None
    return {
        "counts": dict(page.counts),
        "total": page.total,
        "matching": page.matching,
        "states": list(page.query.states),
        "limit": page.query.limit,
        "after": page.query.after,
        "before": page.query.before,
        "next": page.next_cursor,
        "previous": page.previous_cursor,
    }


def detail_json(detail: RunDetail) -> dict[str, Any]:
    """The JSON form of a run's detail, as ``flowhook runs show --json`` prints it: of a flow
    run, one page of its task runs (``task_page`` says which); its first subflow runs, its
    newest hook errors and notifications, each list with its ``..._total``."""
    data: dict[str, Any] = strict_json(
        {
            "run": run_json(detail.run),
            "trace_id": detail.trace_id,
            "process": _process_json(detail.process),
            "events": _events_json(detail.events),
            "task_runs": [
                {**run_json(task), "events": _events_json(detail.task_events[task.id])}
                for task in detail.task_runs
            ],
            "task_page": task_page_json(detail.task_page),
            "subflow_runs": [run_json(subflow) for subflow in detail.subflow_runs],
            "subflow_runs_total": detail.subflow_total,
            "hook_errors": [_hook_error_json(error) for error in detail.hook_errors],
            "hook_errors_total": detail.hook_error_total,
            "notifications": [_notification_json(m) for m in detail.notifications],
            "notifications_total": detail.notification_total,
        }
    )
    return data
