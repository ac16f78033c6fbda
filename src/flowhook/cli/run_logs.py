"""``flowhook runs logs ID``: the log records stored with a run, once or as they come."""

from __future__ import annotations

import json
import logging
import signal
from typing import Any

import click

from flowhook_hookspec.run_ids import short_run_id

from ..store import LogRecord, RunRecord, Store
from ..views import local_time, utc_iso
from .arguments import resolve_run
from .errors import BadArgument, one_line_errors
from .interrupts import stop_on_signals
from .stores import command_store

__all__ = ["LEVEL_NAMES", "parse_level", "runs_logs"]

#: The level names ``--level`` takes, any case, beside numbers.
LEVEL_NAMES = ("debug", "info", "warning", "error", "critical")
#: How often ``--follow`` looks for new records, in seconds.
FOLLOW_INTERVAL = 0.25
_PAGE = 1000


def parse_level(text: str) -> int:
    """The level number of ``text``: a name of :data:`LEVEL_NAMES` (any case) or a number."""
    value = text.strip()
    if value.lower() in LEVEL_NAMES:
        return int(getattr(logging, value.upper()))
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise BadArgument(
            f"--level takes one of {', '.join(LEVEL_NAMES)} (any case) or a number >= 0, "
            f"got {text!r}"
        )
    return number


def log_json(record: LogRecord, task_run_name: str | None) -> dict[str, Any]:
    """The JSON form of a record, as ``flowhook runs logs --json`` prints it."""
    return {
        "id": record.id,
        "time": utc_iso(record.time),
        "timestamp": record.time,
        "level": record.level,
        "level_name": record.level_name,
        "flow_run_id": record.flow_run_id,
        "task_run_id": record.task_run_id,
        "task_run_name": task_run_name,
        "logger": record.logger,
        "message": record.message,
    }


def log_line(record: LogRecord, task_run_name: str | None) -> str:
    """One record as text: its time, level, the task run that logged it, and its message."""
    where = (
        f"[{task_run_name or short_run_id(record.task_run_id or '')}] "
        if record.task_run_id
        else ""
    )
    return (
        f"{local_time(record.time, precise=True)}  {record.level_name:<8} {where}{record.message}"
    )


class _Names:
    """The names of the run's task runs, each read by its id when a record first names it (a
    flow run may have a million task runs: never all of them); an id not found yet is read
    again after the next poll."""

    def __init__(self, store: Store, run: RunRecord) -> None:
        self.store = store
        self.names = {run.id: run.name} if run.kind == "task" else {}
        self.missed: set[str] = set()

    def of(self, task_run_id: str | None) -> str | None:
        if task_run_id is None:
            return None
        if task_run_id not in self.names and task_run_id not in self.missed:
            found = self.store.get_run("task", task_run_id)
            if found is None:
                self.missed.add(task_run_id)
            else:
                self.names[task_run_id] = found.name
        return self.names.get(task_run_id)

    def more(self) -> None:
        """Let the ids not found yet be read again (a new poll)."""
        self.missed.clear()


@click.command("logs")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Print new records until the run ends.")
@click.option(
    "--level",
    "level",
    default="0",
    metavar="LEVEL",
    help="Only records at this level or above: debug, info, warning, error, critical, or a number.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per record.")
@one_line_errors
def runs_logs(run_id: str, follow: bool, level: str, as_json: bool) -> None:
    """Print the log records stored with a run: a flow run's with its task runs', or one task
    run's. RUN_ID may be any unique prefix of a run's id.

    With --follow, new records are printed as the run logs them, until the run ends.
    """
    min_level = parse_level(level)
    with command_store() as store:
        run = resolve_run(store, run_id)
        assert store is not None
        names = _Names(store, run)
        if follow:
            last = _follow(store, run, names, min_level, as_json)
        else:
            last = _print_new(store, run, names, 0, min_level, as_json)
    if not last and not follow and not as_json:
        what = f"{run.kind} run {run.name!r} ({short_run_id(run.id)})"
        click.echo(f"No log records stored for {what}" + (" at that level." if min_level else "."))


def _follow(store: Store, run: RunRecord, names: _Names, min_level: int, as_json: bool) -> int:
    """Print new records until the run is final; Ctrl-C exits with status 130, after the read
    under way (an interrupted read would leave the driver complaining on stderr), and a second
    Ctrl-C at once."""
    last = 0
    with stop_on_signals(signal.SIGINT) as stop:
        while not stop.requested:
            current = store.get_run(run.kind, run.id)
            final = current is None or current.is_final
            names.more()
            last = _print_new(store, run, names, last, min_level, as_json)
            if final:
                return last
            stop.wait(FOLLOW_INTERVAL)
    raise click.exceptions.Exit(130)


def _print_new(
    store: Store, run: RunRecord, names: _Names, after: int, min_level: int, as_json: bool
) -> int:
    """Print the records after id ``after``, page by page; the last id printed."""
    while True:
        records = store.run_logs(run.id, after_id=after, min_level=min_level, limit=_PAGE)
        for record in records:
            name = names.of(record.task_run_id)
            if as_json:
                click.echo(json.dumps(log_json(record, name)))
            else:
                click.echo(log_line(record, name))
        if records:
            after = records[-1].id
        if len(records) < _PAGE:
            return after
