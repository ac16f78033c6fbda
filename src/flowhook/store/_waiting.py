"""What a store writer's queue holds: writes nobody waits for, and waiters.

Shared by the writer thread (:mod:`._writer`) and the writer process
(:mod:`flowhook._runtime.writer_process`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from ._records import Write

__all__ = ["Entry", "Waiter", "writes_and_waiters"]


class Waiter(threading.Event):
    """Writes whose caller waits until they, and all queued before them, are applied; ``then``
    is called at that moment, and ``number`` is the least key number of the batch that holds
    them (see :meth:`~flowhook.store.BatchWriter.submit_then`)."""

    def __init__(
        self,
        writes: tuple[Write, ...],
        then: Callable[[], None] | None = None,
        number: int = 0,
    ) -> None:
        super().__init__()
        self.writes, self.then, self.number = writes, then, number

    def set(self) -> None:
        super().set()
        if self.then is not None:
            self.then()


#: What the queue holds: writes nobody waits for (a plain tuple, most of them), or a waiter.
Entry = tuple[Write, ...] | Waiter


def writes_and_waiters(entries: Iterable[Entry]) -> tuple[list[Write], list[Waiter]]:
    """The writes of queued ``entries``, in order, and the waiters among them."""
    writes: list[Write] = []
    waiters: list[Waiter] = []
    for entry in entries:
        if type(entry) is tuple:
            writes += entry
        else:
            writes += entry.writes  # type: ignore[union-attr]
            waiters.append(entry)  # type: ignore[arg-type]
    return writes, waiters
