"""Transactions: group task runs so that their side effects commit or roll back together.

    with transaction(key="load-2026-12-01") as txn:
        if txn.is_committed():
            return               # done by an earlier run: idempotency through the result store
        write_rows()             # a task with on_rollback=[delete_rows]
        publish()                # a task with on_commit=[announce]

Every task run inside the block gets a *child* transaction of its own (the ``txn`` its
``on_commit`` / ``on_rollback`` hooks receive, and what :func:`get_transaction` returns in its
body). When the block exits normally the children commit in completion order (each runs its
commit hooks and writes its record), then the block's own record is written under ``key``. When
anything inside raises, the children roll back in reverse completion order, each task run's
history gains a ``RolledBack`` state, and the exception propagates. A commit hook that raises
rolls everything back, then its error is raised from the ``with`` block. A rollback hook that
raises is logged, and the other rollback hooks still run.

A transaction inside another is its child: with ``CommitMode.LAZY`` (the default) it commits or
rolls back with the outer one; ``EAGER`` commits at once; ``OFF`` never commits by itself.
``IsolationLevel.SERIALIZABLE`` holds a lock on the key from the start of the block to its end,
so that two processes never do the work of one key at once.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import threading
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flowhook_hookspec import states
from flowhook_hookspec.runs import TaskRun

from .._plugins.isolation import resolve_awaitable
from .result_home import default_storage
from .state_hooks import hook_name

if TYPE_CHECKING:
    from .results import ResultRecord, ResultStorage, Serializer

logger = logging.getLogger("flowhook.transactions")

__all__ = [
    "CommitMode",
    "IsolationLevel",
    "Transaction",
    "TransactionState",
    "get_transaction",
    "transaction",
]

_current: contextvars.ContextVar[Transaction | None] = contextvars.ContextVar(
    "flowhook_transaction", default=None
)


class CommitMode(enum.Enum):
    """When a transaction commits: with its parent (LAZY), at once (EAGER), or never (OFF)."""

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


Hook = Callable[["Transaction"], Any]


class Transaction:
    """One transaction; use it through :func:`transaction` (see the module docs)."""

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
        self.overwrite = overwrite
        self.write_on_commit = write_on_commit
        self.lifetime = lifetime
        self.task_run = task_run
        self.state = TransactionState.PENDING
        self.children: list[Transaction] = []
        self._parent: Transaction | None = None
        self._values: dict[str, Any] = {}
        self._staged_value: Any = None
        self._has_staged_value = False
        self._on_commit: list[Hook] = []
        self._on_rollback: list[Hook] = []
        self._lock = threading.Lock()
        self._exit_stack = ExitStack()
        self._found: ResultRecord | None = None
        self._token: contextvars.Token[Transaction | None] | None = None

    def __repr__(self) -> str:
        key = f"key={self.key!r}, " if self.key is not None else ""
        return f"Transaction({key}state={self.state.value}, children={len(self.children)})"

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

    def get(self, name: str, default: Any = None) -> Any:
        """A value set on this transaction or an outer one, else ``default``."""
        if name in self._values:
            return self._values[name]
        if self._parent is not None:
            return self._parent.get(name, default)
        return default

    def stage(
        self,
        value: Any,
        on_rollback_hooks: Iterable[Hook] = (),
        on_commit_hooks: Iterable[Hook] = (),
    ) -> None:
        """Stage the value written under ``key`` on commit, and hooks ``hook(txn)`` to run."""
        if self.state in (TransactionState.COMMITTED, TransactionState.ROLLED_BACK):
            return
        self._staged_value = value
        self._has_staged_value = True
        self._on_commit.extend(on_commit_hooks)
        self._on_rollback.extend(on_rollback_hooks)
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

    def add_child(self, child: Transaction) -> None:
        with self._lock:
            self.children.append(child)

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

    # -- life cycle ----------------------------------------------------------------------------

    def begin(self) -> None:
        """Enter: inherit from the parent, take the lock, find out if the key is committed."""
        parent = _current.get()
        if parent is not None:
            self._parent = parent
            if self.commit_mode is None:
                self.commit_mode = parent.commit_mode
            if self.store is None and parent.store is not None:
                self.store = parent.store
        if self.isolation_level is IsolationLevel.SERIALIZABLE:
            lock = getattr(self._storage(), "lock", None)
            if self.key is None or lock is None:
                raise ValueError(
                    "IsolationLevel.SERIALIZABLE needs a key and a result storage that can lock "
                    f"(the local file system can; {type(self._storage()).__name__} cannot)"
                )
            self._exit_stack.enter_context(lock(self.key))
        self.state = TransactionState.ACTIVE
        if not self.overwrite:
            record = self._read_record()
            if record is not None and not record.is_expired():
                self._found = record
                self.state = TransactionState.COMMITTED
        self._token = _current.set(self)

    def _end(self) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        self._exit_stack.close()

    def finish(self, error: BaseException | None, raise_errors: bool = True) -> None:
        """Leave: commit, roll back or hand over to the parent, as the commit mode says."""
        try:
            if error is not None:
                self.rollback()
                return
            mode = self.commit_mode or CommitMode.LAZY
            if self._parent is not None:
                self._parent.add_child(self)
                if mode is CommitMode.EAGER:
                    self.commit(raise_errors)
            elif mode is not CommitMode.OFF:
                self.commit(raise_errors)
        finally:
            self._end()

    def commit(self, raise_errors: bool = False) -> bool:
        """Commit the children, run the commit hooks in order, then write the record.

        On an error everything rolls back; the error is re-raised when ``raise_errors``, else
        logged. Returns whether the transaction committed.
        """
        if self.state in (TransactionState.COMMITTED, TransactionState.ROLLED_BACK):
            return self.is_committed()
        try:
            for child in list(self.children):
                if not child.is_rolled_back() and child.commit_mode is not CommitMode.OFF:
                    child.commit(raise_errors=True)
            for hook in self._on_commit:
                try:
                    resolve_awaitable(hook(self))
                except BaseException:
                    logger.error(
                        "on_commit hook %r%s failed; rolling back the transaction",
                        hook_name(hook),
                        self._of(),
                        exc_info=True,
                    )
                    raise
            if self.key is not None and self.write_on_commit:
                from .results import ResultRecord

                record = ResultRecord.new(self._staged_value, self.serializer, self.lifetime)
                self._storage().write(self.key, record.to_bytes(self.serializer))
        except BaseException as exc:
            self.rollback(including_committed=True)
            if raise_errors:
                raise
            logger.error(
                "the transaction%s did not commit and rolled back: %s: %s",
                self._of(),
                type(exc).__name__,
                exc,
            )
            return False
        self.state = TransactionState.COMMITTED
        return True

    def rollback(self, including_committed: bool = False) -> bool:
        """Run the rollback hooks in reverse order, then roll the children back, last first.

        Errors of rollback hooks are logged, not raised. Returns whether it rolled back.
        """
        if self.is_rolled_back() or (self.is_committed() and not including_committed):
            return False
        for hook in reversed(self._on_rollback):
            try:
                resolve_awaitable(hook(self))
            except Exception:
                logger.error(
                    "on_rollback hook %r%s failed; the other rollback hooks still run",
                    hook_name(hook),
                    self._of(),
                    exc_info=True,
                )
        for child in reversed(self.children):
            child.rollback(including_committed)
        staged = self._has_staged_value
        self.state = TransactionState.ROLLED_BACK
        if self.task_run is not None and staged:
            # As in Prefect, a rollback is not a transition (no hook fires, the store keeps
            # Completed): the task run's history shows it.
            self.task_run.state_history.append(
                states.Completed(
                    "the transaction rolled back", name="RolledBack", run_id=self.task_run.id
                )
            )
        return True

    def _of(self) -> str:
        return f" of task run {self.task_run.name!r}" if self.task_run is not None else ""

    # -- as a context manager, sync or async ---------------------------------------------------

    def __enter__(self) -> Transaction:
        self.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exc)

    async def __aenter__(self) -> Transaction:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exc)


def transaction(
    key: str | None = None,
    *,
    store: Any = None,
    commit_mode: CommitMode | None = None,
    isolation_level: IsolationLevel | None = None,
    overwrite: bool = False,
    write_on_commit: bool = True,
    serializer: Any = None,
) -> Transaction:
    """A transaction for the block it opens, ``with`` or ``async with`` (see the module docs).

    ``key`` names its record in ``store`` (a result storage or a directory; the default one
    under ``$FLOWHOOK_HOME``): a key with a record is committed already, :meth:`~Transaction.
    is_committed` says so, and the block may skip its work. ``overwrite=True`` ignores it.
    """
    from .results import resolve_serializer, resolve_storage

    return Transaction(
        key,
        store=resolve_storage(store),
        serializer=None if serializer is None else resolve_serializer(serializer),
        commit_mode=commit_mode,
        isolation_level=isolation_level,
        overwrite=overwrite,
        write_on_commit=write_on_commit,
    )


def get_transaction() -> Transaction | None:
    """The innermost open transaction: a task run's own one in its body and hooks."""
    return _current.get()


def current_transaction() -> Transaction | None:
    """The innermost open transaction (the engine's name for :func:`get_transaction`)."""
    return _current.get()


def task_transaction(run: TaskRun, key: str | None, settings: Any) -> Transaction:
    """The child transaction of one task run: its record is the task's result, under ``key``."""
    return Transaction(
        key,
        store=None if settings is None else settings.storage,
        serializer=None if settings is None else settings.serializer,
        lifetime=None if settings is None else settings.lifetime,
        overwrite=settings is not None and settings.refresh,
        isolation_level=None if settings is None else settings.isolation_level,
        write_on_commit=key is not None,
        task_run=run,
    )


def end_task_transaction(txn: Transaction, task: Any, state: Any) -> None:
    """After a task run: stage what it returned and leave; a run that did not complete (or was
    Cached) stages nothing. A commit hook's error is logged: the run is Completed already."""
    if state.is_completed() and not txn.is_committed():
        txn.stage(
            state.result(),
            on_rollback_hooks=task.on_rollback_hooks,
            on_commit_hooks=task.on_commit_hooks,
        )
        txn.finish(None, raise_errors=False)
    elif txn.is_committed():
        txn.finish(None, raise_errors=False)
    else:
        txn.state = TransactionState.ROLLED_BACK
        txn._end()
