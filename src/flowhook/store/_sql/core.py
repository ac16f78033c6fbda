"""The whole store on any SQL database, but for its connections: a backend's store class is
:class:`SQLCore` and its own base class (connections, transactions, dialect)."""

from __future__ import annotations

from .blocks import Blocks
from .listing import TaskRunPages
from .logs import RunLogs
from .outbox import Outbox
from .prune import Pruning
from .runs import Runs

__all__ = ["SQLCore"]


class SQLCore(Runs, TaskRunPages, RunLogs, Pruning, Outbox, Blocks):
    """Every method of :class:`~flowhook.store.Store` but ``close`` and ``unavailable``
    (:class:`Runs` records a batch's heartbeats: it is also the :class:`Processes`)."""
