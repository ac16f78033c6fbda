"""What ``flowhook run`` shows of its run: counters kept on the transition path, plain lines.

:class:`RunTally` is the observer (through the runtime's ``transitions_observed``): for every
transition of the flow run the command started, of its subflow runs and of their task runs, it
moves one count from the old state's column to the new one's, in rows of the thread's own, and
nothing else: O(1) per transition, no lock, no rendering. The live display (:mod:`.live`)
reads these counts at most ten times a second. Runs of other flows that the process may start (a thread of its own calling
another flow) are not counted.

Columns: *pending* (Pending, and Scheduled or AwaitingRetry between two attempts), *running*
(Running, Retrying, Cancelling), *completed* (Completed, Cached), *failed* (Failed, TimedOut,
Crashed) and *cancelled*. Task runs are counted by task name; each subflow is a row of its own,
by flow name, counting its runs; its task runs count under their task names.

:class:`PlainLines` is the display when stdout is not a terminal (or with ``--no-progress``):
one line per transition, ``HH:MM:SS.mmm kind run-name State[: message]``, written and flushed
within a tenth of a second.
"""

from __future__ import annotations

import collections
import io
import threading
import time
import uuid
from time import monotonic as _monotonic
from typing import IO, Any, Literal, TextIO, cast

import attrs

from flowhook_hookspec.runs import FlowRun, TaskRun
from flowhook_hookspec.states import FINAL_TYPES, State, StateType

from ..views import format_duration
from .errors import one_line

__all__ = ["COLUMNS", "FLUSH_SECONDS", "PlainLines", "Row", "RunTally", "summary_line"]

#: The longest a written line waits to be flushed.
FLUSH_SECONDS = 0.1

#: The columns of a row, in order.
COLUMNS = ("pending", "running", "completed", "failed", "cancelled")
PENDING, RUNNING, COMPLETED, FAILED, CANCELLED = range(len(COLUMNS))

_COLUMN_OF = {
    StateType.PENDING: PENDING,
    StateType.SCHEDULED: PENDING,
    StateType.RUNNING: RUNNING,
    StateType.CANCELLING: RUNNING,
    StateType.PAUSED: RUNNING,
    StateType.COMPLETED: COMPLETED,
    StateType.FAILED: FAILED,
    StateType.CRASHED: FAILED,
    StateType.CANCELLED: CANCELLED,
}

#: The states whose message a plain line shows (why a run did not complete).
_EXPLAINED = frozenset(
    {StateType.FAILED, StateType.CRASHED, StateType.CANCELLING, StateType.CANCELLED}
)


@attrs.define(eq=False)
class Row:
    """The runs of one task (or one subflow) so far, by column."""

    kind: Literal["flow", "task"]
    name: str
    first_seen: float
    counts: list[int] = attrs.field(factory=lambda: [0] * len(COLUMNS))
    last_final: float | None = None

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def finished(self) -> int:
        return self.counts[COMPLETED] + self.counts[FAILED] + self.counts[CANCELLED]

    def elapsed(self, now: float) -> float:
        """From its first run's Pending to its last run's end, or to now while one is unfinished."""
        end = self.last_final if self.finished == self.total and self.last_final else now
        return end - self.first_seen


_RowKey = str | tuple[str, str]


class _ThreadRows(threading.local):
    """The rows one thread counted: only that thread writes them, so no lock is taken."""

    def __init__(self, every: list[dict[_RowKey, Row]]) -> None:
        self.rows: dict[_RowKey, Row] = {}
        every.append(self.rows)  # list.append is atomic


class RunTally:
    """Counts of the runs of the flow run the command started: the observer of its transitions.

    Each thread counts in rows of its own (a run's Pending may be counted in the thread that
    submitted it and its end in a worker), and :meth:`rows` adds them up. Nothing takes a lock
    on the transition path: a lock held by the main thread when Ctrl-C interrupts it could never
    be released, and every later transition would wait on it. A sum taken while a run moves
    between two threads may be off by that run for one drawing; the sums taken once the run has
    ended are exact.
    """

    def __init__(self) -> None:
        self._top_id: uuid.UUID | None = None
        self._flow_ids: set[uuid.UUID] = set()
        self._every: list[dict[_RowKey, Row]] = []
        self._mine = _ThreadRows(self._every)
        #: The flow run started, once its first transition is seen, and its latest state.
        self.flow_run: FlowRun | None = None
        self.state: State | None = None
        self.started: float | None = None
        self.ended: float | None = None

    def observe(
        self, kind: Literal["flow", "task"], run: FlowRun | TaskRun, old: State | None, new: State
    ) -> bool:
        """Count one transition; whether it belongs to the run started (and was counted).

        The hot path, once per transition of every task run: a few comparisons and lookups, and
        two counts moved in this thread's own row.
        """
        key: _RowKey
        if isinstance(run, TaskRun):
            parent = run.flow_run_id
            # ``is`` first: a task run's flow run id is its flow run's own id object.
            if parent is not self._top_id and parent not in self._flow_ids:
                return False
            key = name = run.task_name
        else:
            if not self._flow_moved(run, old, new):
                return False
            if run is self.flow_run:
                return True
            name = run.flow_name
            key = ("flow", name)
        rows = self._mine.rows
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(kind, name, _monotonic())
        counts = row.counts
        if old is not None:
            counts[_COLUMN_OF[old.type]] -= 1
        column = _COLUMN_OF[new.type]
        counts[column] += 1
        if column >= COMPLETED:
            row.last_final = _monotonic()
        return True

    def _flow_moved(self, run: FlowRun, old: State | None, new: State) -> bool:
        """Whether a flow run is the one started or a subflow of it (taken in at its first
        state); the started one's state is kept."""
        if old is None:
            parent = run.parent_flow_run_id
            if parent is None and self.flow_run is None:
                self.flow_run, self._top_id = run, run.id
            elif parent is None or parent not in self._flow_ids:
                return False
            self._flow_ids.add(run.id)  # set.add is atomic
        elif run.id not in self._flow_ids:
            return False
        if run is self.flow_run:
            self.state = new
            if new.type is StateType.RUNNING and self.started is None:
                self.started = _monotonic()
            elif new.type in FINAL_TYPES:
                self.ended = _monotonic()
        return True

    def rows(self) -> list[Row]:
        """Every row, the threads' counts added up, in the order their first runs appeared."""
        merged: dict[_RowKey, Row] = {}
        for rows in list(self._every):
            for key, row in list(rows.items()):
                counts, last_final = list(row.counts), row.last_final
                total = merged.get(key)
                if total is None:
                    merged[key] = Row(row.kind, row.name, row.first_seen, counts, last_final)
                    continue
                total.counts = [a + b for a, b in zip(total.counts, counts, strict=True)]
                total.first_seen = min(total.first_seen, row.first_seen)
                if last_final is not None:
                    total.last_final = max(total.last_final or last_final, last_final)
        ordered = sorted(merged.values(), key=lambda row: row.first_seen)
        for row in ordered:  # a count caught between two threads is never shown below zero
            row.counts = [max(count, 0) for count in row.counts]
        return ordered

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the flow run started running, until it ended."""
        if self.started is None:
            return 0.0
        end = self.ended if self.ended is not None else _monotonic() if now is None else now
        return end - self.started


def _counted(rows: list[Row], kind: str, noun: str) -> str | None:
    mine = [row for row in rows if row.kind == kind]
    total = sum(row.total for row in mine)
    if not total:
        return None
    parts = [
        f"{count} {column}"
        for index, column in enumerate(COLUMNS)
        if (count := sum(row.counts[index] for row in mine))
    ]
    return f"{total} {noun}{'s' if total != 1 else ''} ({', '.join(parts)})"


def summary_line(tally: RunTally, details: str | None = None) -> str:
    """The last line: how the run ended, in how long, what its task runs did, and why it did not
    complete. ``details`` says where to read more (the run's id, when the store keeps it)."""
    run, state = tally.flow_run, tally.state
    if run is None or state is None:
        return "The flow run did not start."
    rows = tally.rows()
    counted = [
        part
        for part in (_counted(rows, "task", "task run"), _counted(rows, "flow", "subflow run"))
        if part
    ]
    ending = "ended" if state.is_final() else "was left"
    line = (
        f"Flow run {run.name!r} of flow {run.flow_name!r} {ending} {state.name} in "
        f"{format_duration(tally.elapsed())}"
    )
    if counted:
        line += ": " + ", ".join(counted)
    if state.type is not StateType.COMPLETED and state.message:
        line += f". {state.message}"
    if details and state.type is not StateType.COMPLETED:
        line += f" ({details})"
    return one_line(line)


class PlainLines:
    """One line per transition on ``stream``, written by a thread of its own.

    The transition path only queues what the line needs (``deque.append`` is atomic: no lock);
    every :data:`FLUSH_SECONDS` the thread formats what is queued, writes it in one piece and
    flushes, in order. A flush per line, a system call from the run's own thread, would cost a
    run of trivial tasks a third of its time. A closed pipe (``flowhook run ... | head``) stops
    the lines; the run goes on.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._queue: collections.deque[tuple[str, str, State] | str] = collections.deque()
        self._closed = False
        self._stop = threading.Event()
        self._second = -1
        self._clock = ""
        self._writer = threading.Thread(
            target=self._write_while_open, name="flowhook-run-lines", daemon=True
        )
        self._writer.start()

    def write(self, kind: str, run: FlowRun | TaskRun, state: State) -> None:
        """Queue the line of one transition: ``HH:MM:SS.mmm kind run-name State[: message]``."""
        self._queue.append((kind, run.name, state))

    def echo(self, line: str) -> None:
        """Queue a line of text, written after those queued before it."""
        self._queue.append(line + "\n")

    def standard_output(self) -> TextIO:
        """A stand-in for ``sys.stdout`` while the flow runs: what the flow prints is queued
        with the lines, so that it comes out between the transitions around it."""
        return cast(TextIO, _QueuedText(self._queue, self._stream))

    def _line(self, item: tuple[str, str, State] | str) -> str:
        if isinstance(item, str):
            return item
        kind, name, state = item
        moment = state.timestamp.timestamp()
        second = int(moment)
        if second != self._second:  # the local time formatted once per second
            self._clock = time.strftime("%H:%M:%S", time.localtime(second))
            self._second = second
        line = f"{self._clock}.{int((moment - second) * 1000):03d} {kind} {name} {state.name}"
        if state.type in _EXPLAINED and state.message:
            line += f": {state.message}"
        return (line if line.isprintable() else one_line(line)) + "\n"

    def _drain(self) -> None:
        pieces = []
        queue = self._queue
        while queue:
            pieces.append(self._line(queue.popleft()))
        if not pieces or self._closed:
            return
        try:
            self._stream.write("".join(pieces))
            self._stream.flush()
        except (OSError, ValueError):
            self._closed = True

    def _write_while_open(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self._drain()

    def close(self) -> None:
        """Write what is queued and stop the writing thread."""
        self._stop.set()
        self._writer.join()
        self._drain()


class _QueuedText(io.TextIOBase):
    """Text written to it joins the queue of :class:`PlainLines`, in order."""

    def __init__(self, queue: collections.deque[Any], stream: IO[str]) -> None:
        self._queue = queue
        self._stream = stream

    def write(self, text: str) -> int:
        self._queue.append(text)
        return len(text)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")
