"""What each page shows: the read model's answers (:mod:`flowhook.views`) as plain data for
the templates, no HTTP.

The runs list and the run page show what ``flowhook runs ls`` and ``flowhook runs show`` print:
the same filters, the same lookup by id prefix, the same durations. Secrets never reach a
page: outbox texts are masked with the secrets of their block.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import attrs
from starlette.datastructures import QueryParams

from flowhook._plugins import list_plugins
from flowhook.store import Store
from flowhook.views import (
    LOGS_SHOWN,
    MAX_TASKS_SHOWN,
    TASKS_SHOWN,
    BadQuery,
    RunDetail,
    RunFilters,
    TaskPage,
    TaskQuery,
    list_runs,
    masked,
    version,
)
from flowhook_hookspec.states import StateType

from .timeline import GROUP_ABOVE, counts_chart, timeline

__all__ = [
    "PAGE_SIZE",
    "STATE_TYPES",
    "BadFilter",
    "filters_of",
    "outbox_view",
    "plugins_view",
    "run_view",
    "runs_view",
    "task_query_of",
]

#: The state types, in the order the legend and the stacked counts show them.
STATE_TYPES = [state.value for state in StateType]
PAGE_SIZE = 50
#: The most runs one page (or one ``/api/runs`` answer) holds.
MAX_LIMIT = 1000
_COUNT_SLICES = 24
_DEFAULT_RANGE = 24 * 3600.0
_OUTBOX_STATUSES = ("pending", "sent", "dead")


class BadFilter(ValueError):
    """A filter of a list that cannot be read (the message says which and why)."""


def _limit_of(params: QueryParams, default: int, most: int) -> int:
    limit = params.get("limit", "").strip() or str(default)
    if not limit.isdigit() or not 1 <= int(limit) <= most:
        raise BadQuery(f"{limit!r} is not a number from 1 to {most}", "limit")
    return int(limit)


def filters_of(params: QueryParams) -> RunFilters:
    """The runs list's filters from its query string (``flow``, ``state`` and ``tag``, which
    may repeat, ``since``, ``until``, ``before``, ``limit``): those of ``flowhook runs ls``;
    :class:`~flowhook.views.BadQuery` names a bad one."""

    def get(name: str) -> str | None:
        return params.get(name, "").strip() or None

    return RunFilters(
        flow=get("flow"),
        states=tuple(params.getlist("state")),
        since=get("since"),
        until=get("until"),
        tags=tuple(params.getlist("tag")),
        before=get("before"),
        limit=_limit_of(params, PAGE_SIZE, MAX_LIMIT),
    )


def task_query_of(params: QueryParams) -> TaskQuery:
    """Which task runs the run page (and ``/api/runs/ID``) shows, from its query string:
    ``state`` (may repeat, or be comma-separated), ``after`` or ``before`` (a page's cursor),
    ``limit``; the options of ``flowhook runs show``. :class:`~flowhook.views.BadQuery` names
    a bad one."""
    return TaskQuery(
        states=tuple(params.getlist("state")),
        after=params.get("after", "").strip() or None,
        before=params.get("before", "").strip() or None,
        limit=_limit_of(params, TASKS_SHOWN, MAX_TASKS_SHOWN),
    )


def task_link(query: TaskQuery, **changes: Any) -> str:
    """The query string of the run page showing ``query`` with ``changes`` (``?`` alone for
    the first page of all task runs)."""
    values: dict[str, Any] = {
        "state": ",".join(query.states),
        "limit": query.limit if query.limit != TASKS_SHOWN else None,
        **changes,
    }
    return "?" + urlencode({k: v for k, v in values.items() if v})


def _task_links(page: TaskPage | None) -> dict[str, Any]:
    """The run page's links around its task runs: next, previous and first page, and one per
    state type (with its count) that shows only those."""
    if page is None:
        return {"pager": {}, "by_state": []}
    query = page.query
    pager = {
        "previous": page.previous_cursor and task_link(query, before=page.previous_cursor),
        "next": page.next_cursor and task_link(query, after=page.next_cursor),
        "first": None if query.first else task_link(query),
        "all": task_link(TaskQuery(limit=query.limit)) if query.states else None,
    }
    by_state = [
        (state, count, task_link(TaskQuery(states=(state,), limit=query.limit)))
        for state, count in page.counts
    ]
    return {"pager": pager, "by_state": by_state}


def link(filters: RunFilters, **changes: str | None) -> str:
    """The query string of ``filters`` with ``changes``."""
    values: dict[str, Any] = {
        "flow": filters.flow,
        "state": list(filters.states),
        "tag": list(filters.tags),
        "since": filters.since,
        "until": filters.until,
        "before": filters.before,
        **changes,
    }
    return "?" + urlencode({k: v for k, v in values.items() if v}, doseq=True)


def runs_view(store: Store | None, filters: RunFilters) -> dict[str, Any]:
    """The runs list: one page of runs (and the link to the next), and counts by state."""
    now = time.time()
    page = list_runs(store, filters, now)
    query = filters.query(now)
    until = query.until or now
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
        "runs": page.runs,
        "filters": filters,
        "next_page": None if page.cursor is None else link(filters, before=page.cursor),
        "first_page": link(filters, before=None) if filters.before else None,
        "states": STATE_TYPES,
        "chart": counts_chart(counts, since, until, _COUNT_SLICES, STATE_TYPES),
        "totals": [(state, totals[state]) for state in STATE_TYPES if state in totals],
        "range": (since, until),
        "now": now,
    }


def run_view(detail: RunDetail, notice: str | None = None) -> dict[str, Any]:
    """The run page: state, timeline, history and hook errors, parameters, logs,
    notifications, failures, one page of task runs; all of it is live (fetched again on each
    change). ``notice`` is what a cancel asked from the page answered."""
    run, tasks, page = detail.run, detail.task_runs, detail.task_page
    return {
        **attrs.asdict(detail, recurse=False),
        "notice": notice,
        "timeline": timeline(run, tasks, detail.now) if tasks else None,
        "grouped": len(tasks) > GROUP_ABOVE,
        "paged": page is not None and len(tasks) < page.total,
        "cancellable": detail.cancellable,
        "task_states": detail.task_states,
        "headings": detail.headings,
        "version": version(run, detail.task_states),
        "parameters": None
        if run.parameters is None
        else json.dumps(run.parameters, indent=2, default=str),
        "task_names": {task.id: task.name for task in tasks},
        "logs_shown": LOGS_SHOWN,
        **_task_links(page),
    }


def outbox_view(store: Store | None, status: str | None) -> dict[str, Any]:
    """The outbox page: messages of one status (or all), newest first."""
    if status not in (None, *_OUTBOX_STATUSES):
        raise BadFilter(f"status must be one of {', '.join(_OUTBOX_STATUSES)}, got {status!r}")
    records = [] if store is None else store.list_outbox(status)
    return {"messages": masked(records), "status": status, "statuses": _OUTBOX_STATUSES}


def plugins_view() -> dict[str, Any]:
    """The plugins page: what ``flowhook plugins`` lists."""
    return {"plugins": list_plugins()}
