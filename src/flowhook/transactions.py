"""Transactions, at the import path Prefect users write: ``from flowhook.transactions import ...``.

``atransaction`` and ``AsyncTransaction`` are loaded when first used.
"""

from typing import TYPE_CHECKING

from ._engine import (
    CommitMode,
    IsolationLevel,
    Transaction,
    TransactionState,
    get_transaction,
    transaction,
)
from ._engine.transaction_base import BaseTransaction

if TYPE_CHECKING:
    from ._engine.async_transactions import AsyncTransaction, atransaction


def __getattr__(name: str) -> object:
    if name in ("AsyncTransaction", "atransaction"):
        from ._engine import async_transactions

        return getattr(async_transactions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsyncTransaction",
    "BaseTransaction",
    "CommitMode",
    "IsolationLevel",
    "Transaction",
    "TransactionState",
    "atransaction",
    "get_transaction",
    "transaction",
]
