"""A transaction's data: its state, the values its hooks share, what it staged, its record.

:class:`BaseTransaction` is what :class:`~flowhook._engine.transactions.Transaction` (the life
cycle: begin, commit, rollback) builds on, as in Prefect, where ``BaseTransaction`` is the model
both the sync and the async transaction share.
"""

from __future__ import annotations

import contextvars
import copy
import enum
import threading
from contextlib import ExitStack
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flowhook_hookspec.runs import TaskRun

from .result_home import default_storage
from .transaction_hooks import Hook, module_logger

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .results import ResultRecord, ResultStorage, Serializer
    from .transaction_hooks import Logger
    from .transactions import Transaction

__all__ = [
    "BaseTransaction",
    "CommitMode",
    "IsolationLevel",
    "TransactionState",
    "active_transaction",
]

active_transaction: contextvars.ContextVar[Transaction | None] = contextvars.ContextVar(
    "flowhook_transaction", default=None
)
_MISSING: Any = object()


class CommitMode(enum.Enum):
    """When a transaction commits: with its parent (LAZY), at once (EAGER), or only with a
    parent (OFF)."""

    EAGER = "EAGER"
    LAZY = "LAZY"
    OFF = "OFF"


class IsolationLevel(enum.Enum):
    """READ_COMMITTED: records are read as they are. SERIALIZABLE: the key is locked meanwhile."""

    READ_COMMITTED = "READ_COMMITTED"
    SERIALIZABLE = "SERIALIZABLE"


class TransactionState(enum.Enum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    STAGED = "STAGED"
    COMMITTED = "COMMITTED"
    ROLLED_BACK = "ROLLED_BACK"


class BaseTransaction:
    """A transaction's data; :class:`~flowhook._engine.transactions.Transaction` runs it."""

    def __init__(
        self,
        key: str | None = None,
        *,
        store: ResultStorage | None = None,
        serializer: Serializer | None = None,
        commit_mode: CommitMode | None = None,
        isolation_level: IsolationLevel | None = None,
        overwrite: bool = False,
        write_on_commit: bool = True,
        lifetime: timedelta | None = None,
        task_run: TaskRun | None = None,
        logger: Logger | None = None,
    ) -> None:
        if commit_mode is not None and not isinstance(commit_mode, CommitMode):
            raise TypeError(f"commit_mode takes a CommitMode, got {commit_mode!r}")
        if isolation_level is not None and not isinstance(isolation_level, IsolationLevel):
            raise TypeError(f"isolation_level takes an IsolationLevel, got {isolation_level!r}")
        self.key = key
        self.store = store
        self._serializer = serializer
        self.commit_mode = commit_mode
        self.isolation_level = isolation_level
        self._explicit_isolation = isolation_level is not None
        self.overwrite = overwrite
        self.write_on_commit = write_on_commit
        self.lifetime = lifetime
        self.task_run = task_run
        self.logger = logger
        self.state = TransactionState.PENDING
        self.children: list[Transaction] = []
        self._parent: Transaction | None = None
        self._values: dict[str, Any] = {}
        self._staged_value: Any = None
        self._on_commit: list[Hook] = []
        self._on_rollback: list[Hook] = []
        self._lock = threading.Lock()
        self._rolling_back = False
        self._exit_stack = ExitStack()
        self._found: ResultRecord | None = None
        self._token: contextvars.Token[Transaction | None] | None = None

    def __repr__(self) -> str:
        key = f"key={self.key!r}, " if self.key is not None else ""
        return (
            f"{type(self).__name__}({key}state={self.state.value}, children={len(self.children)})"
        )

    # -- state ---------------------------------------------------------------------------------

    def is_pending(self) -> bool:
        return self.state is TransactionState.PENDING

    def is_active(self) -> bool:
        return self.state is TransactionState.ACTIVE

    def is_staged(self) -> bool:
        return self.state is TransactionState.STAGED

    def is_committed(self) -> bool:
        """Whether this transaction committed, now or in an earlier run (its key has a record)."""
        return self.state is TransactionState.COMMITTED

    def is_rolled_back(self) -> bool:
        return self.state is TransactionState.ROLLED_BACK

    def get_parent(self) -> Transaction | None:
        """The transaction this one is inside, if any."""
        return self._parent

    # -- values --------------------------------------------------------------------------------

    def set(self, name: str, value: Any) -> None:
        """Store a value for the hooks of this transaction and those inside it."""
        self._values[name] = value

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """A copy of the value set under ``name`` here or on an outer transaction, else ``default``.

        Changing the copy changes nothing stored (call :meth:`set`). Without a ``default``, an
        unknown name is a ``ValueError``, as in Prefect.
        """
        if name in self._values:
            return copy.deepcopy(self._values[name])
        if self._parent is not None:
            return self._parent.get(name, default)
        if default is _MISSING:
            raise ValueError(f"Could not retrieve value for unknown key: {name}")
        return default

    def stage(
        self,
        value: Any,
        on_rollback_hooks: Iterable[Hook] | None = None,
        on_commit_hooks: Iterable[Hook] | None = None,
    ) -> None:
        """Stage the value written under ``key`` on commit, and hooks ``hook(txn)`` to run then
        or on a rollback. A committed transaction stages nothing; a rolled-back one is staged
        again, and may then commit (Prefect's rule, ``prefect/transactions.py``, ``stage``)."""
        if self.state is TransactionState.COMMITTED:
            return
        with self._lock:
            self._rolling_back = False
        self._staged_value = value
        self._on_commit.extend(on_commit_hooks or ())
        self._on_rollback.extend(on_rollback_hooks or ())
        self.state = TransactionState.STAGED

    def read(self) -> Any:
        """The value stored under this transaction's key (None when there is none)."""
        record = self._found or self._read_record()
        return None if record is None else record.value

    @property
    def staged_task_runs(self) -> list[TaskRun]:
        """The task runs staged in this transaction and those inside it, in completion order."""
        runs: list[TaskRun] = []
        for child in self.children:
            if child.task_run is not None and child.is_staged():
                runs.append(child.task_run)
            runs.extend(child.staged_task_runs)
        return runs

    # -- the record ----------------------------------------------------------------------------

    @property
    def serializer(self) -> Serializer:
        """How the record is serialized (pickle unless said otherwise)."""
        if self._serializer is None:
            from .results import PickleSerializer

            self._serializer = PickleSerializer()
        return self._serializer

    def _storage(self) -> ResultStorage:
        if self.store is None:
            self.store = default_storage()
        return self.store

    def _read_record(self) -> ResultRecord | None:
        if self.key is None:
            return None
        from .results import read_record

        return read_record(self._storage(), self.key, self.serializer)

    def _record_bytes(self) -> bytes | None:
        """The record to write on commit; None when the serializer cannot take the value
        (logged as Prefect does: the transaction then rolls back, nothing is raised)."""
        from .results import ResultRecord

        record = ResultRecord.new(self._staged_value, self.serializer, self.lifetime)
        try:
            return record.to_bytes(self.serializer)
        except Exception as exc:
            self._log().warning(
                "Encountered an error while serializing result for transaction %r: %s Code "
                "execution will continue, but the transaction will not be committed.",
                self.key,
                exc,
            )
            return None

    def _log(self) -> Logger:
        if self.logger is None:
            self.logger = module_logger
        return self.logger
