"""The task runner interface: what executes submitted task runs.

The engine hands a runner *work items*: callables that execute one task run from Pending to a
final state, firing its hooks, and return that final state. A thread pool runs them in the
flow's process; a distributed runner must bring the states back to the flow's process, where
the hooks fire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Protocol, runtime_checkable

from .states import State

__all__ = ["TaskRunner"]


@runtime_checkable
class TaskRunner(Protocol):
    """Runs submitted task runs. One runner serves one flow run at a time."""

    def submit(self, work: Callable[[], State]) -> Future[State]:
        """Start ``work`` and return a future of its final state."""
        ...

    def wait(self, futures: Iterable[Future[State]], timeout: float | None = None) -> None:
        """Block until every future is done, or ``timeout`` seconds pass."""
        ...

    def cancel_all(self) -> None:
        """Cancel every submitted work item that has not started."""
        ...

    def shutdown(self) -> None:
        """Release the runner's resources once every submitted work item is done."""
        ...
