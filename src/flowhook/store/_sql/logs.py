"""Run logs read back from ``run_logs`` (a batch writes them: :mod:`.rows`; ``prune`` deletes
them). Two partial indexes, on ``(flow_run_id, id)`` and ``(task_run_id, id)``, serve reading a
flow run's records (with its task runs') and a task run's, from a given id on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import SQLStore
from .records import checked, layout

if TYPE_CHECKING:
    from .._details import LogRecord

__all__ = ["RunLogs"]

LOG_COLUMNS = "id, flow_run_id, task_run_id, level, time, message, logger"
_LAYOUT = layout("run_logs", LOG_COLUMNS, id=(int,), message=(str,))


class RunLogs(SQLStore):
    """The store's ``run_logs``."""

    def run_logs(
        self, run_id: str, *, after_id: int = 0, min_level: int = 0, limit: int = 1000
    ) -> list[LogRecord]:
        """Ids are unique across flow and task runs, so at most one of the two reads (the flow
        run's records with its task runs', or else the task run's) finds records."""
        flows, tasks = (
            self.dialect.sql(
                f"SELECT {LOG_COLUMNS} FROM run_logs WHERE {column} = ? AND id > ? "
                "AND level >= ? ORDER BY id LIMIT ?"
            )
            for column in ("flow_run_id", "task_run_id")
        )
        parameters = (run_id, after_id, min_level, limit)

        def read(db: Any) -> list[LogRecord]:
            from .._details import LogRecord  # the detail's records: not for a run list

            found = db.execute(flows, parameters).fetchall()
            found = found or db.execute(tasks, parameters).fetchall()
            return [LogRecord(*checked(row, _LAYOUT)) for row in found]

        return self._reading(read)
