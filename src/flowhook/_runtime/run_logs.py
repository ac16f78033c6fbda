"""Run logs: the records runs log, stored with them in the recorder's batches.

:class:`RunLogCapture` is a filter on ``flowhook.flow_runs`` and ``flowhook.task_runs``, the
loggers of ``get_run_logger()`` and of ``print`` under ``log_prints=True``, whose records carry
their run's ids. Each record becomes one :class:`~flowhook.store.RunLog` on the background
writer's queue, written in the same batches as the states: a top-level run's final write takes
every record logged before it. A filter, not a handler: a handler would count as one, and
Python's last-resort handler would stop printing warnings to stderr where nothing is configured.

Records are stored at the loggers' effective level. When recording starts, a logger of the two
that has no level of its own and would drop INFO (Python's default, WARNING) is set to INFO:
INFO records are then stored, and the filter still keeps those below the level the logger had
from the handlers, so that what the console shows does not change. Set a level on the logger
to store more or fewer.

A top-level run (a flow run with its task runs and subflows, or a task run outside any flow)
stores at most ``FLOWHOOK_RUN_LOG_LIMIT`` records; past it they are counted, which costs a
dictionary look-up and an addition, and when the run ends one WARNING record says how many were
dropped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..store import RunLog, Write

__all__ = ["RUN_LOGGERS", "RunLogCapture"]

#: The loggers whose records are stored with their runs (those of flowhook._engine.logs).
RUN_LOGGERS = ("flowhook.flow_runs", "flowhook.task_runs")


class _Budget:
    """How many more records a top-level run may store, and how many it dropped."""

    __slots__ = ("dropped", "left")

    def __init__(self, left: int) -> None:
        self.left = left
        self.dropped = 0


class RunLogCapture:
    """Turns the records of run loggers into :class:`RunLog` writes, within each run's limit.

    ``submit`` queues writes (the background writer's ``submit``). The recorder tells it when
    runs start and end (:meth:`run_created`, :meth:`run_ended`), in the runs' own threads.
    """

    def __init__(self, submit: Callable[[tuple[Write, ...]], None], limit: int) -> None:
        self.submit = submit
        self.limit = limit
        #: Per flow run id (subflows share their top-level run's), and per task run id of a
        #: task run outside any flow: the budget of the top-level run it belongs to.
        self._budgets: dict[str, _Budget] = {}
        self._lock = threading.Lock()
        #: The loggers whose level this set to INFO, by name: records below their parent's
        #: level are stored but not handled, as before.
        self._quieted: dict[str, logging.Logger] = {}

    # -- runs ----------------------------------------------------------------------------------

    def run_created(self, run_id: str, parent_flow_run_id: str | None) -> None:
        """A flow run, or a task run outside any flow, was created."""
        budget = None if parent_flow_run_id is None else self._budgets.get(parent_flow_run_id)
        self._budgets[run_id] = budget or _Budget(self.limit)

    def run_ended(self, run_id: str, *, top_level: bool, logger_name: str) -> RunLog | None:
        """A run of :meth:`run_created` reached a final state: for a top-level run that dropped
        records, the record that says so, to write with its final state."""
        budget = self._budgets.pop(run_id, None)
        if budget is None or not top_level or not budget.dropped:
            return None
        flow_run_id = run_id if logger_name == RUN_LOGGERS[0] else None
        return RunLog(
            flow_run_id,
            None if flow_run_id else run_id,
            logging.WARNING,
            time.time(),
            f"{budget.dropped} log {'record was' if budget.dropped == 1 else 'records were'} "
            f"dropped: this run reached its limit of {self.limit} records "
            "(FLOWHOOK_RUN_LOG_LIMIT)",
            logger_name,
        )

    # -- records -------------------------------------------------------------------------------

    def filter(self, record: logging.LogRecord) -> bool:
        """Store ``record``; whether the logger's handlers get it too."""
        # A record that cannot be formatted is not stored; the run goes on.
        with contextlib.suppress(Exception):
            self._store(record)
        quieted = self._quieted.get(record.name)
        return quieted is None or record.levelno >= quieted.getEffectiveLevel()

    def _store(self, record: logging.LogRecord) -> None:
        flow_run_id: str | None = getattr(record, "flow_run_id", None)
        task_run_id: str | None = getattr(record, "task_run_id", None)
        key = flow_run_id or task_run_id
        if key is None:
            return  # not a run's record: nothing to keep it with
        budget = self._budgets.get(key)
        if budget is not None:
            with self._lock:
                if budget.left <= 0:
                    budget.dropped += 1
                    return
                budget.left -= 1
        self.submit(
            (
                RunLog(
                    flow_run_id,
                    task_run_id,
                    record.levelno,
                    record.created,
                    _message(record),
                    record.name,
                ),
            )
        )

    # -- installing ----------------------------------------------------------------------------

    def install(self) -> None:
        """Filter the run loggers' records; INFO for those that would drop it (see above)."""
        for name in RUN_LOGGERS:
            found = logging.getLogger(name)
            if found.level == logging.NOTSET and found.getEffectiveLevel() > logging.INFO:
                found.setLevel(logging.INFO)
                if found.parent is not None:
                    self._quieted[name] = found.parent
            found.addFilter(self)

    def uninstall(self) -> None:
        for name in RUN_LOGGERS:
            found = logging.getLogger(name)
            found.removeFilter(self)
            if name in self._quieted and found.level == logging.INFO:
                found.setLevel(logging.NOTSET)
        self._quieted.clear()


def _message(record: logging.LogRecord) -> str:
    """The record's message without the run label the run logger puts first, and the
    traceback of its exception, if any."""
    message = record.getMessage()
    label: Any = getattr(record, "run_label", None)
    if isinstance(label, str) and message.startswith(label + " - "):
        message = message[len(label) + 3 :]
    if record.exc_info and record.exc_info[1] is not None:
        if not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        message = f"{message}\n{record.exc_text}"
    if record.stack_info:
        message = f"{message}\n{record.stack_info}"
    return message


_FORMATTER = logging.Formatter()
