"""Transactions: group task runs so that their side effects commit or roll back together.

    with transaction(key="load-2026-12-01") as txn:
        if txn.is_committed():
            return               # done by an earlier run: idempotency through the result store
        write_rows()             # a task with on_rollback=[delete_rows]
        publish()                # a task with on_commit=[announce]

Every task run inside the block gets a *child* transaction of its own (the ``txn`` its
``on_commit`` / ``on_rollback`` hooks receive, and what :func:`get_transaction` returns in its
body). When the block ends, the children commit in completion order (each runs its commit hooks
and writes its record), then the block's own record is written under ``key``. When anything
inside raises, or a task run's attempt fails (even one retried later, or called with
``return_state=True``), the transaction rolls back: the children in reverse completion order,
each running its rollback hooks. A child that ends rolled back rolls its parent back, as in
Prefect; a child that joins a parent rolled back already is rolled back at once.

A transaction inside another is its child and inherits its commit mode and isolation level:
with ``CommitMode.LAZY`` (the default) it commits with the outer one; ``EAGER`` commits at once;
``OFF`` commits only with a parent, and without one rolls back at the end of its block.
``IsolationLevel.SERIALIZABLE`` holds a lock on the key from the start of the block to its end,
so that two processes never do the work of one key at once.

A commit hook that raises rolls the whole transaction back and is raised from the ``with``
block (Prefect rolls back that child alone; see docs/prefect.md). A rollback hook that raises is
logged, and the other rollback hooks still run.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from .transaction_base import (
    BaseTransaction,
    CommitMode,
    IsolationLevel,
    TransactionState,
    active_transaction,
)
from .transaction_hooks import default_logger, run_hook

if TYPE_CHECKING:
    from .transaction_hooks import Logger

__all__ = [
    "BaseTransaction",
    "CommitMode",
    "IsolationLevel",
    "Transaction",
    "TransactionState",
    "get_transaction",
    "transaction",
]


class Transaction(BaseTransaction):
    """One transaction; use it through :func:`transaction` (see the module docs)."""

    def add_child(self, child: Transaction) -> None:
        """Make ``child`` commit or roll back with this transaction; if this one rolled back
        already, ``child`` rolls back now."""
        with self._lock:
            self.children.append(child)
            late = self._rolling_back
        if late:
            child._rollback_as_child(False)

    # -- life cycle ----------------------------------------------------------------------------

    def begin(self) -> None:
        """Enter: inherit from the parent, take the lock, find out if the key is committed."""
        self._open(active_transaction.get())
        self._token = active_transaction.set(self)

    def _open(self, parent: Transaction | None) -> None:
        self._inherit(parent)
        self._lock_key()
        self.state = TransactionState.ACTIVE
        self._look_up()

    def _inherit(self, parent: Transaction | None) -> None:
        """Prefect's rule: what is not given is the parent's, else LAZY and READ_COMMITTED."""
        self._parent = parent
        if self.commit_mode is None:
            self.commit_mode = parent.commit_mode if parent is not None else CommitMode.LAZY
        if self.isolation_level is None:
            inherited = parent.isolation_level if parent is not None else None
            self.isolation_level = inherited or IsolationLevel.READ_COMMITTED
        if self.store is None and parent is not None and parent.store is not None:
            self.store = parent.store

    def _lock_key(self) -> None:
        if self.isolation_level is not IsolationLevel.SERIALIZABLE:
            return
        if self.key is None and not self._explicit_isolation:
            return  # inherited by a transaction without a record (a task that keeps none)
        lock = getattr(self._storage(), "lock", None)
        if self.key is None or lock is None:
            raise ValueError(
                "IsolationLevel.SERIALIZABLE needs a key and a result storage that can lock "
                f"(the local file system can; {type(self._storage()).__name__} cannot)"
            )
        self._exit_stack.enter_context(lock(self.key))

    def _look_up(self) -> None:
        if self.overwrite:
            return
        record = self._read_record()
        if record is not None and not record.is_expired():
            self._found = record
            self.state = TransactionState.COMMITTED

    def _end(self) -> None:
        """Leave the context: the current transaction is the parent again, the lock released."""
        if self._token is not None:
            active_transaction.reset(self._token)
            self._token = None
        self._exit_stack.close()

    def finish(self, error: BaseException | None, raise_errors: bool = True) -> None:
        """Leave the block: commit, roll back or hand over to the parent, as the commit mode
        says (``prefect/transactions.py``, ``Transaction.__exit__`` and ``reset``)."""
        try:
            self._close(error, raise_errors)
        finally:
            self._end()
            self._hand_over()

    def _close(self, error: BaseException | None, raise_errors: bool) -> None:
        if error is not None:
            self._rollback_now()
        else:
            self._settle(raise_errors)

    def _settle(self, raise_errors: bool) -> None:
        if self.commit_mode is CommitMode.EAGER:
            self._commit_now(raise_errors)
        if self._parent is not None:
            return  # the parent commits or rolls back this one with itself
        if self.commit_mode is CommitMode.OFF:
            self._rollback_now()  # nothing committed it: roll back (a committed one stays so)
        else:
            self._commit_now(raise_errors)

    def _hand_over(self) -> None:
        parent = self._parent
        if parent is None:
            return
        parent.add_child(self)
        if self.is_rolled_back():
            parent._rollback_now()

    def commit(self, raise_errors: bool = False) -> bool:
        """Commit the children, run the commit hooks in order, then write the record.

        Returns whether this call committed it. On an error everything rolls back, those
        children that committed already included; the error is raised when ``raise_errors``,
        else logged.
        """
        return self._commit_now(raise_errors)

    def _commit_now(self, raise_errors: bool) -> bool:
        if self.state in (TransactionState.COMMITTED, TransactionState.ROLLED_BACK):
            return False
        if self._rolling_back:
            return False
        try:
            for child in list(self.children):
                child._commit_as_child()
            for hook in self._on_commit:
                run_hook(self, hook, "commit", self._log())
            if self.key is not None and self.write_on_commit:
                data = self._record_bytes()
                if data is None:
                    self._rollback_now()
                    return False
                self._storage().write(self.key, data)
        except BaseException as exc:
            self._rollback_now(including_committed=True)
            if raise_errors or not isinstance(exc, Exception):
                raise
            self._log().error(
                "An error was encountered while committing transaction %r", self.key, exc_info=True
            )
            return False
        self.state = TransactionState.COMMITTED
        return True

    def rollback(self, including_committed: bool = False) -> bool:
        """Run the rollback hooks in reverse order, then roll the children back, last first.

        Errors of rollback hooks are logged, not raised, and the other hooks still run. Returns
        whether this call rolled it back.
        """
        return self._rollback_now(including_committed)

    def _rollback_now(self, including_committed: bool = False) -> bool:
        with self._lock:
            if self._rolling_back or (self.is_committed() and not including_committed):
                return False
            self._rolling_back = True
            children = list(self.children)
        for hook in reversed(self._on_rollback):
            with contextlib.suppress(Exception):  # logged by run_hook: undo as much as possible
                run_hook(self, hook, "rollback", self._log())
        self.state = TransactionState.ROLLED_BACK
        for child in reversed(children):
            child._rollback_as_child(including_committed)
        return True

    def _commit_as_child(self) -> None:
        """Commit as the parent's commit does: its errors are the parent's."""
        self.commit(raise_errors=True)

    def _rollback_as_child(self, including_committed: bool) -> None:
        self._rollback_now(including_committed)

    def roll_back_attempt(self) -> None:
        """A task run's attempt failed inside this, the task run's transaction: undo what the
        attempt's nested runs staged, and roll the enclosing transaction back (in Prefect each
        attempt has a transaction of its own, which rolls back and so rolls back its parent)."""
        with self._lock:
            children, self.children = self.children, []
        for child in reversed(children):
            child._rollback_as_child(False)
        if self._parent is not None:
            self._parent._rollback_now()

    # -- as a context manager, sync or async ---------------------------------------------------

    def __enter__(self) -> Transaction:
        self.begin()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.finish(exc_info[1])

    async def __aenter__(self) -> Transaction:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.finish(exc_info[1])


_P = ParamSpec("_P")
_R = TypeVar("_R")


def parameters_of(model: Callable[_P, object]) -> Callable[[Callable[..., _R]], Callable[_P, _R]]:
    """Give the decorated function ``model``'s parameters: for type checkers, for
    ``inspect.signature`` (help and the docs show them), and for the error a call that does not
    fit them raises, which names the decorated function; its return annotation stays."""

    def adopt(function: Callable[..., _R]) -> Callable[_P, _R]:
        own = inspect.signature(function).return_annotation
        signature = inspect.signature(model).replace(return_annotation=own)

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> _R:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{function.__name__}(): {exc}") from None
            return function(*args, **kwargs)

        checked.__signature__ = signature  # type: ignore[attr-defined]
        return cast("Callable[_P, _R]", checked)

    return adopt


def transaction_arguments(
    key: str | None = None,
    store: Any = None,
    commit_mode: CommitMode | None = None,
    isolation_level: IsolationLevel | None = None,
    overwrite: bool = False,
    write_on_commit: bool = True,
    logger: Logger | None = None,
    *,
    serializer: Any = None,
) -> dict[str, Any]:
    """The keyword arguments of a :class:`Transaction` (or a subclass) that the arguments of
    :func:`transaction` (and ``atransaction``, Prefect's same ones) describe."""
    from .results import resolve_serializer, resolve_storage

    return {
        "key": key,
        "store": resolve_storage(store),
        "serializer": None if serializer is None else resolve_serializer(serializer),
        "commit_mode": commit_mode,
        "isolation_level": isolation_level,
        "overwrite": overwrite,
        "write_on_commit": write_on_commit,
        "logger": logger or default_logger(),
    }


@parameters_of(transaction_arguments)
def transaction(*args: Any, **kwargs: Any) -> Transaction:
    """A transaction for the block it opens, ``with`` or ``async with`` (see the module docs).

    ``key`` names its record in ``store`` (a result storage or a directory; the default one
    under ``$FLOWHOOK_HOME``): a key with a record is committed already, :meth:`~Transaction.
    is_committed` says so, and the block may skip its work. ``overwrite=True`` ignores it. The
    hooks' lines go to ``logger``, by default the logger of the run in progress.
    """
    return Transaction(**transaction_arguments(*args, **kwargs))


def get_transaction() -> Transaction | None:
    """The innermost open transaction: a task run's own one in its body and hooks."""
    return active_transaction.get()


def current_transaction() -> Transaction | None:
    """The innermost open transaction (the engine's name for :func:`get_transaction`)."""
    return active_transaction.get()
