"""The records of a run's detail, of processes, of the outbox and of pruning: plain attrs value
classes the store returns to the reaper, the command line and the web UI. Apart from
:mod:`._records` because building attrs classes costs CPU at import (about 5 ms for these), and
``flowhook runs ls`` needs none of them. Times are seconds since the epoch (floats); event
timestamps keep the ISO 8601 text the contract's converter writes.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import attrs

from ._records import RunKindName

__all__ = [
    "CancelRequest",
    "EventRecord",
    "HookErrorRecord",
    "LogRecord",
    "OutboxRecord",
    "ProcessInfo",
    "ProcessRecord",
    "PruneReport",
    "StateCount",
]


@attrs.frozen
class OutboxRecord:
    """One message of the notification outbox."""

    id: int
    block_type: str
    block_name: str
    status: str
    attempts: int
    next_attempt: float
    last_error: str | None
    subject: str | None
    body: str
    run_kind: str | None
    run_id: str | None
    event: str | None
    rule: str | None
    created: float
    delivered: float | None
    #: The idempotency key the message was enqueued with (its event, rule and block).
    key: str | None = None

    @property
    def block(self) -> str:
        return f"{self.block_type}/{self.block_name}"


@attrs.frozen
class ProcessInfo:
    """A process that runs flows, as it registers itself."""

    pid: int
    host: str
    #: Identifies this process among all that had this pid (boot id and start ticks on Linux).
    start_token: str | None
    started: float
    command: str
    flowhook_version: str


@attrs.frozen
class ProcessRecord:
    id: int
    pid: int
    host: str
    start_token: str | None
    started: float
    last_heartbeat: float
    command: str | None
    #: When it shut down normally (its atexit handlers ran); None while it runs or if it died.
    exited: float | None = None


@attrs.frozen
class EventRecord:
    """One state a run entered, in the order it entered them."""

    seq: int
    run_id: str
    #: The state as the contract's converter writes it (type, name, message, timestamp, ...).
    state: dict[str, Any]
    traceback: str | None = None

    @property
    def name(self) -> str:
        return str(self.state["name"])

    @property
    def type(self) -> str:
        return str(self.state["type"])

    @property
    def timestamp(self) -> datetime:
        return datetime.fromisoformat(self.state["timestamp"])


@attrs.frozen
class HookErrorRecord:
    run_id: str
    kind: RunKindName
    timestamp: float
    description: str
    traceback: str | None


@attrs.frozen
class LogRecord:
    """One log record of a run, as the store keeps it (see ``Store.run_logs``)."""

    #: Increasing in the order the store wrote the records (per store, not per run).
    id: int
    #: The flow run the record belongs to; None for a task run called outside any flow.
    flow_run_id: str | None
    #: The task run that logged it; None for a flow run's own records.
    task_run_id: str | None
    #: The :mod:`logging` level number (20 for INFO).
    level: int
    #: When it was logged, in seconds since the epoch.
    time: float
    #: The formatted message, with the exception's traceback when one was logged.
    message: str
    #: The name of the logger (``flowhook.flow_runs``, ``flowhook.task_runs``).
    logger: str

    @property
    def level_name(self) -> str:
        """``INFO``, ``WARNING``, ...; ``Level 25`` for a level without a name."""
        return logging.getLevelName(self.level)


@attrs.frozen
class CancelRequest:
    flow_run_id: str
    message: str | None


@attrs.frozen
class StateCount:
    """How many top-level runs created in one time slice are in one state type."""

    #: The slice's index, from 0 (the oldest) to the number of slices less one.
    bucket: int
    state_type: str
    count: int


@attrs.frozen
class PruneReport:
    """What ``Store.prune`` deleted (or, in a dry run, would delete)."""

    flow_runs: int
    task_runs: int
    events: int
    processes: int
    #: Outbox messages sent before the cutoff.
    sent_messages: int = 0
    #: Log records of the runs deleted.
    logs: int = 0
