"""``atransaction`` and ``AsyncTransaction``: Prefect's transaction for ``async with``.

Its ``commit``, ``rollback``, ``read`` and ``begin`` are coroutines, as in Prefect. The work
behind them (the hooks, the record's reads and writes, waiting for a SERIALIZABLE lock) runs in
a worker thread, so that a slow hook never blocks the event loop; an ``async def`` hook is run
to completion there on a loop of its own. ``with`` is refused, as in Prefect: use
:func:`~flowhook._engine.transactions.transaction` for a ``with`` block (it also serves
``async with``).
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

from .transaction_base import active_transaction
from .transactions import Transaction, parameters_of, transaction_arguments

__all__ = ["AsyncTransaction", "atransaction"]

_WITH_REFUSED = (
    "AsyncTransaction does not support the `with` statement: use `async with`, or "
    "transaction() for a `with` block"
)


class AsyncTransaction(Transaction):
    """A transaction for ``async with`` (see the module docs)."""

    async def begin(self) -> None:  # type: ignore[override]
        """Enter: inherit from the parent, take the lock, find out if the key is committed."""
        await asyncio.to_thread(self._open, active_transaction.get())
        self._token = active_transaction.set(self)

    async def commit(self, raise_errors: bool = False) -> bool:  # type: ignore[override]
        """:meth:`Transaction.commit`, awaited."""
        return await asyncio.to_thread(self._commit_now, raise_errors)

    async def rollback(self, including_committed: bool = False) -> bool:  # type: ignore[override]
        """:meth:`Transaction.rollback`, awaited."""
        return await asyncio.to_thread(self._rollback_now, including_committed)

    async def read(self) -> Any:
        """:meth:`Transaction.read`, awaited."""
        return await asyncio.to_thread(Transaction.read, self)

    def _commit_as_child(self) -> None:
        self._commit_now(True)

    def __enter__(self) -> NoReturn:
        raise NotImplementedError(_WITH_REFUSED)

    def __exit__(self, *exc_info: Any) -> NoReturn:
        raise NotImplementedError(_WITH_REFUSED)

    async def __aenter__(self) -> AsyncTransaction:
        await self.begin()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await asyncio.to_thread(self._close, exc_info[1], True)
        finally:
            self._end()
            await asyncio.to_thread(self._hand_over)


@parameters_of(transaction_arguments)
def atransaction(*args: Any, **kwargs: Any) -> AsyncTransaction:
    """An :class:`AsyncTransaction` for the block ``async with`` opens; the arguments are
    :func:`~flowhook._engine.transactions.transaction`'s."""
    return AsyncTransaction(**transaction_arguments(*args, **kwargs))
