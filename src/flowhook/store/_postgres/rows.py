"""The SQLite store's rows, in PostgreSQL's SQL: the same columns, ``%s`` placeholders.

Rows are built and decoded by the SQLite store's :mod:`~flowhook.store._sqlite.rows` (its
functions are the same for both databases); only the statements differ.
"""

from __future__ import annotations

from .._sqlite.rows import EVENT_SELECT, FLOW_COLUMNS, HOOK_ERROR_COLUMNS, PROCESS_COLUMNS
from .._sqlite.rows import TASK_COLUMNS as TASK_COLUMNS

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_SELECT",
    "FLOW_COLUMNS",
    "HOOK_ERROR_COLUMNS",
    "INSERT_EVENT",
    "INSERT_FLOW_RUN",
    "INSERT_HOOK_ERROR",
    "INSERT_TASK_RUN",
    "PROCESS_COLUMNS",
    "TASK_COLUMNS",
    "marks",
]


def marks(count: int) -> str:
    return ", ".join(["%s"] * count)


EVENT_COLUMNS = (
    "run_id, run_kind, history_id, type, name, message, timestamp, scheduled_time, "
    "exception_type, exception_message, traceback, earlier"
)
INSERT_EVENT = f"INSERT INTO state_events ({EVENT_COLUMNS}) VALUES ({marks(12)})"
_STATE_COLUMNS = "state_type, state_name, state_message, run_count, start_time, end_time"
INSERT_FLOW_RUN = (
    "INSERT INTO flow_runs (id, name, flow_name, import_path, created, process_id, "
    f"parent_flow_run_id, parent_task_run_id, tags, parameters, {_STATE_COLUMNS}) "
    f"VALUES ({marks(16)}) ON CONFLICT (id) DO NOTHING"
)
INSERT_TASK_RUN = (
    "INSERT INTO task_runs (id, name, task_name, import_path, created, process_id, "
    f"flow_run_id, tags, states, {_STATE_COLUMNS}) "
    f"VALUES ({marks(15)}) ON CONFLICT (id) DO NOTHING"
)
INSERT_HOOK_ERROR = (
    "INSERT INTO hook_errors (run_id, run_kind, history_id, timestamp, description, traceback) "
    f"VALUES ({marks(6)})"
)
