"""The live display of ``flowhook run`` on a terminal, drawn with rich.

A header (flow, run name, the flow run's state, elapsed time) over one row per task (and per
subflow): its runs by column, a bar of the finished ones (green completed, red failed or
cancelled), and the time from its first run's Pending to its last run's end. Drawn from
:class:`~.progress.RunTally`'s counts by rich's own refresh thread, at most
:data:`REFRESH_PER_SECOND` times a second: the run's threads only count.

While it is shown, what the flow prints, and the log lines of the handlers that write to the
terminal, appear above it. Imported only when a terminal shows it: ``flowhook --help`` does not
load rich.
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import IO, Any

from rich.console import Console
from rich.live import Live
from rich.text import Span, Text

from flowhook_hookspec.states import StateType

from ..views import format_duration
from .progress import CANCELLED, COLUMNS, COMPLETED, FAILED, Row, RunTally

__all__ = ["MAX_ROWS", "REFRESH_PER_SECOND", "LiveDisplay", "terminal_console"]

#: The most redraws a second (the contract: at most 10).
REFRESH_PER_SECOND = 10
#: Rows shown at most; past that, unfinished tasks first and a line for the rest.
MAX_ROWS = 20
#: The widest a task name is shown, and the width of the progress bar.
MAX_LABEL = 40
BAR_WIDTH = 24

_STATE_STYLE = {
    StateType.RUNNING: "bold yellow",
    StateType.COMPLETED: "bold green",
    StateType.FAILED: "bold red",
    StateType.CRASHED: "bold red",
    StateType.CANCELLING: "bold magenta",
    StateType.CANCELLED: "bold magenta",
    StateType.PAUSED: "bold cyan",
}
_COLUMN_STYLE = {COMPLETED: "green", FAILED: "red", CANCELLED: "magenta"}


def terminal_console(stream: IO[str]) -> Console | None:
    """A console on ``stream`` if it is a terminal that can redraw in place, else None."""
    console = Console(file=stream)
    if console.is_terminal and not console.is_dumb_terminal:
        return console
    return None


class _Frame:
    """A drawing as one string and its styled spans: rich's ``Text.append`` cleans and copies
    each piece, which costs more than the rest of a redraw."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.length = 0

    def add(self, piece: str, style: str | None = None) -> None:
        if style:
            self.spans.append(Span(self.length, self.length + len(piece), style))
        self.parts.append(piece)
        self.length += len(piece)

    def text(self) -> Text:
        return Text("".join(self.parts), spans=self.spans, no_wrap=True, overflow="ellipsis")


def render(tally: RunTally, now: float | None = None) -> Text:
    """The display of ``tally`` as it is now.

    Plain text laid out by hand, one line per row, never wrapped: a rich ``Table`` costs seven
    times as much to draw, and the drawing takes the interpreter from the run's threads.
    """
    now = time.monotonic() if now is None else now
    run, state = tally.flow_run, tally.state
    frame = _Frame()
    if run is None or state is None:
        frame.add("Starting the flow run...", "dim")
        return frame.text()
    frame.add("flow ", "dim")
    frame.add(run.flow_name, "bold")
    frame.add("  run ", "dim")
    frame.add(run.name, "bold")
    frame.add("  ")
    frame.add(state.name, _STATE_STYLE.get(state.type, "bold"))
    frame.add("  ")
    frame.add(format_duration(tally.elapsed(now)), "cyan")
    rows = tally.rows()
    if rows:
        _add_rows(frame, rows, now)
    return frame.text()


def _label(row: Row) -> str:
    return row.name if row.kind == "task" else f"subflow {row.name}"


def _add_rows(frame: _Frame, rows: list[Row], now: float) -> None:
    columns = [
        index
        for index in range(len(COLUMNS))
        if index != CANCELLED or any(row.counts[CANCELLED] for row in rows)
    ]
    hidden: list[Row] = []
    if len(rows) > MAX_ROWS:
        rows = sorted(rows, key=lambda row: row.finished == row.total)  # stable: unfinished first
        rows, hidden = rows[:MAX_ROWS], rows[MAX_ROWS:]
    width = min(max([len("task"), *(len(_label(row)) for row in rows)]), MAX_LABEL)
    widths = {
        index: max(len(COLUMNS[index]), *(len(str(row.counts[index])) for row in rows))
        for index in columns
    }
    header = "task".ljust(width) + "".join(
        f"  {COLUMNS[index]:>{widths[index]}}" for index in columns
    )
    frame.add("\n")
    frame.add(header + f"  {'progress':{BAR_WIDTH}}  elapsed", "bold")
    for row in rows:
        label = _label(row)
        if len(label) > width:
            label = label[: width - 1] + "…"
        frame.add("\n" + label.ljust(width))
        for index in columns:
            frame.add(f"  {row.counts[index]:>{widths[index]}}", _COLUMN_STYLE.get(index))
        frame.add("  ")
        _add_bar(frame, row)
        frame.add(f"  {format_duration(row.elapsed(now)):>7}")
    if hidden:
        runs = sum(row.total for row in hidden)
        frame.add("\n")
        frame.add(f"... {len(hidden)} more tasks, {runs} runs", "dim")


def _add_bar(frame: _Frame, row: Row) -> None:
    """A bar of the finished runs: green as far as they completed, red for failed ones, and a
    thin line for the rest (legible without colours too)."""
    total = max(row.total, 1)
    done = round(BAR_WIDTH * row.counts[COMPLETED] / total)
    bad = round(BAR_WIDTH * (row.finished / total)) - done
    frame.add("━" * done, "green")
    frame.add("━" * bad, "red")
    frame.add("─" * (BAR_WIDTH - done - bad), "grey30")


class LiveDisplay:
    """The live display, from ``with`` to its end; the last drawing stays on the terminal."""

    def __init__(self, tally: RunTally, console: Console) -> None:
        self._tally = tally
        self._live = Live(
            console=console,
            refresh_per_second=REFRESH_PER_SECOND,
            get_renderable=lambda: render(tally),
            redirect_stdout=True,
            redirect_stderr=True,
        )
        self._streams: list[tuple[logging.StreamHandler[Any], Any]] = []

    def __enter__(self) -> LiveDisplay:
        terminal = {id(sys.stdout): "stdout", id(sys.stderr): "stderr"}
        self._live.start()
        # Log handlers hold the stream they were given; while the display is drawn, those on
        # the terminal write through rich's proxies (what sys.stdout and sys.stderr are now),
        # so that a log line goes above the display instead of through it.
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                name = terminal.get(id(handler.stream))
                if name is not None:
                    previous = handler.setStream(getattr(sys, name))
                    self._streams.append((handler, previous))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for handler, previous in reversed(self._streams):
            handler.setStream(previous)
        self._streams.clear()
        self._live.stop()
