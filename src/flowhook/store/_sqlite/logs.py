"""Run logs as rows of ``run_logs`` and back, and the statements both databases run on them.

A record is one row: the flow run and the task run it belongs to, its level, time, message and
logger name. Two partial indexes, on ``(flow_run_id, id)`` and ``(task_run_id, id)``, serve
reading a flow run's records (with its task runs') and a task run's, from a given id on; the
statements here take the placeholder of their database (``?`` or ``%s``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._records import LogRecord
from .rows import INTEGER, NUMBER, OPTIONAL_TEXT, TEXT, checked, layout

__all__ = [
    "LOG_COLUMNS",
    "delete_logs",
    "insert_log",
    "log_record",
    "read_run_logs",
]

LOG_COLUMNS = "id, flow_run_id, task_run_id, level, time, message, logger"
_LAYOUT = layout(
    "run_logs",
    LOG_COLUMNS,
    id=INTEGER,
    flow_run_id=OPTIONAL_TEXT,
    task_run_id=OPTIONAL_TEXT,
    level=INTEGER,
    time=NUMBER,
    message=TEXT,
    logger=TEXT,
)


def insert_log(marker: str) -> str:
    """The insert of one :class:`~flowhook.store.RunLog` row."""
    return (
        "INSERT INTO run_logs (flow_run_id, task_run_id, level, time, message, logger) "
        f"VALUES ({', '.join([marker] * 6)})"
    )


def log_record(row: Sequence[Any]) -> LogRecord:
    return LogRecord(*checked(row, _LAYOUT))


def read_run_logs(
    query: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]],
    marker: str,
    run_id: str,
    after_id: int,
    min_level: int,
    limit: int,
) -> list[LogRecord]:
    """The records of the flow run ``run_id`` (with its task runs'), or else of the task run
    ``run_id``: ``query(sql, parameters)`` runs a statement in the caller's transaction. Ids
    are unique across flow and task runs, so at most one of the two reads finds records."""
    found: list[tuple[Any, ...]] = []
    for column in ("flow_run_id", "task_run_id"):
        found = query(
            f"SELECT {LOG_COLUMNS} FROM run_logs WHERE {column} = {marker} AND id > {marker} "
            f"AND level >= {marker} ORDER BY id LIMIT {marker}",
            (run_id, after_id, min_level, limit),
        )
        if found:
            break
    return [log_record(row) for row in found]


def delete_logs(pruned: str) -> tuple[str, str]:
    """The deletes of the records of the runs whose ids ``pruned`` selects (flow runs, and task
    runs outside any flow); each uses one index, and their row counts add up (the second finds
    what the first left: the records of standalone task runs)."""
    return (
        f"DELETE FROM run_logs WHERE flow_run_id IN ({pruned})",
        f"DELETE FROM run_logs WHERE task_run_id IN ({pruned})",
    )
