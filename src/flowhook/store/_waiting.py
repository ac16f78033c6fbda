"""What a store writer's queue holds: writes nobody waits for, and waiters; and the run each
write belongs to, for the writer thread's counts and its run-by-run writes.

Shared by the writer thread (:mod:`._writer`) and the writer process
(:mod:`flowhook._runtime.writer_process`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from itertools import chain

from ._records import (
    TRANSITION_FIELDS,
    HookError,
    NewRun,
    OutboxEntry,
    RunLog,
    Transition,
    Write,
    id_text,
    plain_record,
)

__all__ = ["Entry", "Waiter", "moved_run", "moved_runs", "run_key", "writes_and_waiters"]


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


def writes_and_waiters(entries: Sequence[Entry]) -> tuple[list[Write], list[Waiter]]:
    """The writes of queued ``entries``, in order, and the waiters among them."""
    try:  # nearly always no waiter (it is not iterable): flattened without a Python loop
        return list(chain.from_iterable(entries)), []  # type: ignore[arg-type]
    except TypeError:
        pass
    writes: list[Write] = []
    waiters: list[Waiter] = []
    for entry in entries:
        if type(entry) is tuple:
            writes += entry
        else:
            writes += entry.writes  # type: ignore[union-attr]
            waiters.append(entry)  # type: ignore[arg-type]
    return writes, waiters


def run_key(write: Write, histories: dict[str, str]) -> str:
    """The run whose history ``write`` belongs to (a flow run, or a task run outside any flow):
    the unit of a batch that is written, or left out, as a whole."""
    if isinstance(write, Transition | NewRun):
        write = plain_record(write)
    if type(write) is tuple:
        if len(write) == TRANSITION_FIELDS:
            return id_text(write[2])
        return id_text(write[1] if write[7] is None else write[7])
    if isinstance(write, HookError):
        return str(write.history_id)
    if isinstance(write, OutboxEntry):
        return histories.get(write.run_id, write.run_id)
    if isinstance(write, RunLog):
        return write.flow_run_id or write.task_run_id or ""
    return ""  # Beat, ProcessExit: the process's own


def moved_run(write: Write) -> int | None:
    """The run a state event moves (its id's integer), or None for a write of another kind."""
    if type(write) is tuple:
        return write[1] if len(write) == TRANSITION_FIELDS else None
    return write.run_id.int if isinstance(write, Transition) else None


def moved_runs(writes: list[Write]) -> list[int]:
    """The run of each state event among ``writes``."""
    return [run for run in map(moved_run, writes) if run is not None]
