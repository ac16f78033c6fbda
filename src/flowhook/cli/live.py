"""The live display of ``flowhook run`` on a terminal, drawn with rich.

A header (flow, run name, the flow run's state, elapsed time) over one row per task (and per
subflow): its runs by column, a bar of the finished ones (green completed, red failed or
cancelled), and the time from its first run's Pending to its last run's end. Drawn from :class:`~.progress.RunTally`'s counts by rich's own refresh
thread, at most :data:`REFRESH_PER_SECOND` times a second: the run's threads only count.

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
from rich.text import Text

from flowhook_hookspec.states import StateType

from .progress import CANCELLED, COLUMNS, COMPLETED, FAILED, Row, RunTally
from .views import format_duration

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
}
_COLUMN_STYLE = {COMPLETED: "green", FAILED: "red", CANCELLED: "magenta"}


def terminal_console(stream: IO[str]) -> Console | None:
    """A console on ``stream`` if it is a terminal that can redraw in place, else None."""
    console = Console(file=stream)
    if console.is_terminal and not console.is_dumb_terminal:
        return console
    return None


def render(tally: RunTally, now: float | None = None) -> Text:
    """The display of ``tally`` as it is now.

    Plain text laid out by hand: a rich ``Table`` costs seven times as much to draw, and the
    drawing takes the interpreter from the run's threads.
    """
    now = time.monotonic() if now is None else now
    run, state = tally.flow_run, tally.state
    text = Text()
    if run is None or state is None:
        text.append("Starting the flow run...", style="dim")
        return text
    text.append("flow ", style="dim").append(run.flow_name, style="bold")
    text.append("  run ", style="dim").append(run.name, style="bold")
    text.append("  ").append(state.name, style=_STATE_STYLE.get(state.type, "bold"))
    text.append("  ").append(format_duration(tally.elapsed(now)), style="cyan")
    rows = tally.rows()
    if rows:
        _append_rows(text, rows, now)
    return text


def _label(row: Row) -> str:
    return row.name if row.kind == "task" else f"subflow {row.name}"


def _append_rows(text: Text, rows: list[Row], now: float) -> None:
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
    text.append("\n" + header + f"  {'progress':{BAR_WIDTH}}  elapsed", style="bold")
    for row in rows:
        label = _label(row)
        if len(label) > width:
            label = label[: width - 1] + "…"
        text.append("\n" + label.ljust(width))
        for index in columns:
            text.append(f"  {row.counts[index]:>{widths[index]}}", style=_COLUMN_STYLE.get(index))
        text.append("  ")
        _append_bar(text, row)
        text.append(f"  {format_duration(row.elapsed(now)):>7}")
    if hidden:
        runs = sum(row.total for row in hidden)
        text.append(f"\n... {len(hidden)} more tasks, {runs} runs", style="dim")


def _append_bar(text: Text, row: Row) -> None:
    """A bar of the finished runs: green as far as they completed, red for failed ones, and a
    thin line for the rest (legible without colours too)."""
    total = max(row.total, 1)
    done = round(BAR_WIDTH * row.counts[COMPLETED] / total)
    bad = round(BAR_WIDTH * (row.finished / total)) - done
    rest = BAR_WIDTH - done - bad
    text.append("━" * done, style="green")
    text.append("━" * bad, style="red")
    text.append("─" * rest, style="grey30")


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
