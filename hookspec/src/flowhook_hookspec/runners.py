"""The task runner interface: what executes submitted task runs.

The engine hands a runner *work items*: callables that execute one task run from Pending to a
final state, firing its hooks, and return that final state. A thread pool runs them in the
flow's process; a distributed runner must bring the states back to the flow's process, where
the hooks fire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

from .states import State

__all__ = ["BodyHandle", "BodyOutcome", "BodyStatus", "RemoteTaskRunner", "TaskBody", "TaskRunner"]


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


@attrs.frozen
class TaskBody:
    """One attempt of a task run's body, for a runner that runs bodies elsewhere.

    ``key`` names the attempt uniquely: ``<task name>-<task run id>-<attempt>``. ``fn`` is the
    user's function, called as ``fn(*args, **kwargs)``; nothing of the engine goes with it.
    """

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    timeout_seconds: float | None = None


#: The ways a remote body can end, as :attr:`BodyOutcome.status`.
BodyStatus = Literal["returned", "raised", "timed_out", "cancelled", "crashed"]


@attrs.frozen
class BodyOutcome:
    """How one attempt's body ended, as the runner saw it.

    ``value`` is the return value (``returned``) or the exception (``raised``); ``message``
    says why for ``crashed`` and ``cancelled``. ``started``/``ended`` are the times the body
    began and ended where it ran, and ``location`` where that was (a worker's address).
    """

    status: BodyStatus
    value: Any = None
    message: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    location: str | None = None


class BodyHandle(Protocol):
    """One body started by a :class:`RemoteTaskRunner`."""

    def wait_started(self) -> tuple[datetime, str | None] | None:
        """Block until the body started; when and where. ``None`` if it never will."""
        ...

    def outcome(self) -> BodyOutcome:
        """Block until the body ended (or its run must end without it); how it ended."""
        ...


@runtime_checkable
class RemoteTaskRunner(TaskRunner, Protocol):
    """A task runner whose task bodies run elsewhere (other processes, other hosts).

    The engine keeps every transition and every hook in the flow's process; the runner only
    runs bodies. Work items submitted to it call :meth:`start_body` once per attempt.
    """

    def start_body(self, body: TaskBody) -> BodyHandle:
        """Start ``body`` elsewhere and return at once."""
        ...
