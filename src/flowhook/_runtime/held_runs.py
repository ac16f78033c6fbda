"""A flow's task runs' first states, held back for a moment: most runs end meanwhile, and then one
record stands for all three of their transitions.

The recorder holds a task run's Pending and its first Running when both are plain (no message,
scheduled time or data) and no notification rule is about them. When the run then completes
in the same way, it writes one :func:`~flowhook.store.completed_run_record` instead of a new run
and three transitions: less work for the flow's thread, nothing for the garbage collector to
walk while the writer lingers, and one row for the store either way. Any other next state lets
the held ones go first, as they would have gone.

Nothing waits for long: every ``linger`` seconds (the writer's own) a thread lets go of what is
held, so that a task run that runs for longer is in the store as Pending and Running within
about twice the writer's linger (within one, before); a wait for the store (a flow run's start or
end, :meth:`~.recorder.Recorder.flush`, a hook's error) lets go of everything first. At most
:data:`MAX_HELD` runs are held at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.states import State, StateType

from .._engine import RunOwner
from ..store import PlainRecord, Write, completed_run_record, transition_record

__all__ = ["HELD", "MAX_HELD", "HeldRuns", "plain", "plain_completed"]

#: At most this many runs are held at once; past it, a new run goes as it would have. A flow
#: runs its task runs one after the other, or a few at a time; but thousands submitted to a pool
#: of threads at once would each wait in Pending for their turn, and letting them all go would
#: hold the lock, and every run's thread with it, for milliseconds at each linger (10,000 such
#: task runs took 20 % longer before this bound).
MAX_HELD = 64

#: A held run: its flow or task, the run, how many of its states went to the writer, and how
#: many the recorder holds (the states it saw that may wait; it sets ``entry[HELD]`` itself).
_OWNER, _RUN, _SENT, HELD = range(4)

logger = logging.getLogger("flowhook.store")

_COMPLETED = StateType.COMPLETED


def plain(state: State, name: str) -> bool:
    """Whether ``state`` is one that may be held: named ``name``, without a message, scheduled
    time or data."""
    return (
        state.name == name
        and state.message is None
        and state.data is None
        and state.scheduled_time is None
    )


class Submits(Protocol):
    """What the held runs go to: the recorder's writer."""

    def submit(self, writes: tuple[Write, ...], /, *, wait: bool = ...) -> None: ...


class HeldRuns:
    """The task runs whose first states wait (see the module's docstring).

    ``runs`` is read and written by the recorder without the lock on its hot path: a task run is
    moved by one thread only, and a state it holds is in the run's history before the recorder
    sees it, so whoever lets the run go sends what was held by then: the releasing thread under
    the lock, or the run's own thread once it took the run out of ``runs`` under the lock.
    """

    def __init__(
        self,
        writer: Submits,
        new_run: Callable[[RunOwner, FlowRun | TaskRun, float], PlainRecord],
        linger: float,
    ) -> None:
        self.writer, self.new_run, self.linger = writer, new_run, linger
        #: The held runs by their object's ``id()`` (a UUID's hash is a Python call; the entry
        #: keeps the run alive): ``[owner, run, sent, held]``.
        self.runs: dict[int, list[Any]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Let go of what is held every ``linger`` seconds, from a thread of its own."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="flowhook-held-runs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then let go of everything held."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.release()

    def _loop(self) -> None:
        while not self._stopping.wait(self.linger):
            try:
                self.release()
            except Exception:  # never stop letting go: the next tick tries again
                logger.exception("could not send the held states of task runs")

    def hold(self, owner: RunOwner, run: FlowRun | TaskRun) -> bool:
        """Hold the new run ``run``'s Pending, unless :data:`MAX_HELD` runs are held already;
        whether it is."""
        runs = self.runs
        if len(runs) >= MAX_HELD:
            return False
        runs[id(run)] = [owner, run, 0, 1]
        return True

    def release(self) -> None:
        """Send what is held of every run, as it would have gone; the runs stay known, so that
        their next states follow what was sent. Queued without waiting: a run's thread may wait
        for the lock meanwhile (see :meth:`end`). Nothing held: returns at once."""
        if not self.runs:
            return
        with self._lock:
            writes: list[Write] = []
            for entry in list(self.runs.values()):
                writes += self._late(entry)
            if writes:
                self.writer.submit(tuple(writes), wait=False)

    def end(self, entry: list[Any], run: FlowRun | TaskRun, new: State) -> bool:
        """The held run ``run`` moved to ``new``, which is not held: True when ``new`` completed
        it and one record was sent for its three states; else what was held is sent, and the
        caller sends ``new`` as usual. Once the run is out of :attr:`runs` (under the lock)
        nothing else sends its states: they are sent from here, without the lock, so that a
        writer making this thread wait never holds up the other runs' threads."""
        with self._lock:
            del self.runs[id(run)]
            sent = entry[_SENT]
        if (
            sent == 0
            and entry[HELD] == 2
            and new.type is _COMPLETED
            and plain_completed(new)
            and run.run_count == 1
            and len(run.state_history) == 3
        ):
            pending, running, _ = run.state_history
            new_run = self.new_run(entry[_OWNER], run, pending.timestamp.timestamp())
            started, ended = running.timestamp.timestamp(), new.timestamp.timestamp()
            self.writer.submit((completed_run_record(new_run, started, ended),))
            return True
        late = self._late(entry)
        if late:
            self.writer.submit(late)
        return False

    def _late(self, entry: list[Any]) -> tuple[Write, ...]:
        """The records of the held states of ``entry`` not sent yet, as the recorder would have
        made them when the run entered them (under the lock, or from the run's own thread once
        it is out of :attr:`runs`)."""
        sent, held = entry[_SENT], entry[HELD]
        if sent >= held:
            return ()
        run: TaskRun = entry[_RUN]
        entry[_SENT] = held
        flow_run_id = run.flow_run_id
        assert flow_run_id is not None  # only a flow's task runs are held
        writes: tuple[Write, ...] = ()
        for index in range(sent, held):
            state = run.state_history[index]
            if index == 0:  # Pending: the run's creation, before its first attempt
                record = transition_record("task", run.id, flow_run_id, state, 0, None, None, None)
                writes += (self.new_run(entry[_OWNER], run, record[6]), record)
            else:  # its first Running
                writes += (
                    transition_record(
                        "task", run.id, flow_run_id, state, 1, state.timestamp, None, None
                    ),
                )
        return writes


def plain_completed(state: State) -> bool:
    """Whether a Completed ``state`` is the plain one a completed run's record stands for."""
    return state.name == "Completed" and state.message is None and state.scheduled_time is None
