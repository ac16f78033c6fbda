"""The read model: what the ``flowhook runs`` commands and the web UI show of the runs.

Both only render what this package answers, so that they agree: the same filters find the same
runs (:mod:`.query`), a run is found by the same id or prefix, its detail is read in one place
(:mod:`.detail`), a flow run's task runs a page at a time (:mod:`.tasks`), durations and times are written one way (:mod:`.text`), a cancel or a resume is
asked for and explained once (:mod:`.cancel`, :mod:`.resume`), and the JSON forms are shared (:mod:`.as_json`).

It reads the store through the public :class:`~flowhook.store.Store` protocol only, and sits
between the store (and the notifications, whose blocks mask a message's secrets) and the two
front ends.

Each name is imported from its module when first used (PEP 562): ``flowhook runs ls`` loads
the run list's modules, not the run detail's.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .as_json import detail_json, run_json, runs_json, strict_json, task_page_json
    from .cancel import CancelOutcome, CannotCancel, request_cancel
    from .detail import LOGS_SHOWN, Failure, RunDetail, history_id, masked, run_detail, version
    from .query import AmbiguousRun, BadQuery, NoSuchRun, RunFilters, RunPage, find_run, list_runs
    from .resume import CannotResume, request_resume
    from .tasks import MAX_TASKS_SHOWN, TASKS_SHOWN, TaskPage, TaskQuery, task_counts, task_page
    from .text import (
        format_duration,
        local_time,
        moment_ago,
        parse_duration,
        parse_since,
        run_duration,
        utc_iso,
    )

#: Each public name's module.
_HOMES = {
    name: module
    for module, names in {
        "as_json": "detail_json run_json runs_json strict_json task_page_json",
        "cancel": "CancelOutcome CannotCancel request_cancel",
        "detail": "LOGS_SHOWN Failure RunDetail history_id masked run_detail version",
        "query": "AmbiguousRun BadQuery NoSuchRun RunFilters RunPage find_run list_runs",
        "resume": "CannotResume request_resume",
        "tasks": "MAX_TASKS_SHOWN TASKS_SHOWN TaskPage TaskQuery task_counts task_page",
        "text": "format_duration local_time moment_ago parse_duration parse_since run_duration "
        "utc_iso",
    }.items()
    for name in names.split()
}
__all__ = [
    "LOGS_SHOWN",
    "MAX_TASKS_SHOWN",
    "TASKS_SHOWN",
    "AmbiguousRun",
    "BadQuery",
    "CancelOutcome",
    "CannotCancel",
    "CannotResume",
    "Failure",
    "NoSuchRun",
    "RunDetail",
    "RunFilters",
    "RunPage",
    "TaskPage",
    "TaskQuery",
    "detail_json",
    "find_run",
    "format_duration",
    "history_id",
    "list_runs",
    "local_time",
    "masked",
    "moment_ago",
    "parse_duration",
    "parse_since",
    "request_cancel",
    "request_resume",
    "run_detail",
    "run_duration",
    "run_json",
    "runs_json",
    "strict_json",
    "task_counts",
    "task_page",
    "task_page_json",
    "utc_iso",
    "version",
]


def __getattr__(name: str) -> Any:
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
