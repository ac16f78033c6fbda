"""``flowhook runs ...`` and ``flowhook watch``: run history and crash detection on the command line.

Every error a user can cause (an unknown or ambiguous id, a bad duration, an unreadable or
corrupt database) is one line on stderr and exit status 1 (or 2 for a malformed argument),
never a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from flowhook_hookspec.errors import ConfigError

from .._runtime.reaper import ReapedRun, reap
from ..store import (
    EventRecord,
    RunQuery,
    RunRecord,
    Store,
    StoreError,
    StoreSettings,
    death_reason,
    load_settings,
    open_store,
)
from .views import (
    event_json,
    format_duration,
    hook_error_json,
    local_time,
    parse_duration,
    parse_since,
    process_json,
    run_json,
    table,
)

__all__ = ["runs", "watch"]

logger = logging.getLogger("flowhook.cli")

F = TypeVar("F", bound=Callable[..., Any])

_ID = re.compile(r"[0-9a-f-]{1,36}")


class BadArgument(click.ClickException):
    """A malformed argument: one line, exit status 2."""

    exit_code = 2


def _settings() -> StoreSettings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise BadArgument(str(exc)) from None


@contextmanager
def _store(create: bool = False) -> Iterator[Store | None]:
    """The store, or None when no database exists yet; errors become one-line messages."""
    settings = _settings()
    if not create and not settings.database.exists():
        yield None
        return
    try:
        store = open_store(settings, create=create)
    except (StoreError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    finally:
        store.close()


def _one_line_errors(command: F) -> F:
    """Turn database errors that happen while a command reads or writes into one-line errors."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except sqlite3.Error as exc:
            location = _settings().database
            raise click.ClickException(
                f"cannot use the flowhook database {location}: {exc}"
            ) from None
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _duration(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise BadArgument(f"{option}: {exc}") from None


def _resolve(store: Store | None, text: str) -> RunRecord:
    """The run whose id is ``text`` or starts with it (flow runs first, then task runs)."""
    prefix = text.strip().lower()
    if not _ID.fullmatch(prefix):
        raise BadArgument(f"{text!r} is not a run id: ids are hex digits, e.g. 3f2a1b9c")
    matches = [] if store is None else store.find_runs(prefix)
    exact = [run for run in matches if run.id == prefix]
    if exact:
        return exact[0]
    if not matches:
        raise click.ClickException(f"no run has an id starting with {text!r}")
    if len(matches) > 1:
        shown = ", ".join(f"{run.id[:12]} ({run.kind} {run.name!r})" for run in matches[:4])
        raise click.ClickException(
            f"the id {text!r} is ambiguous: it starts {len(matches)} runs ({shown}"
            f"{', ...' if len(matches) > 4 else ''}); give more of it"
        )
    return matches[0]


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


@click.group("runs")
def runs() -> None:
    """Run history: list, show, prune, reap and cancel the runs recorded in $FLOWHOOK_HOME."""


# -- ls -----------------------------------------------------------------------------------------


@runs.command("ls")
@click.option("--flow", "flow_name", metavar="NAME", help="Only runs of this flow.")
@click.option("--state", metavar="STATE", help="Only runs in this state (type or name, any case).")
@click.option("--since", metavar="WHEN", help="Only runs created since: 2h, 7d, or a date/time.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@_one_line_errors
def runs_ls(
    flow_name: str | None, state: str | None, since: str | None, limit: int, as_json: bool
) -> None:
    """List flow runs, newest first."""
    since_time = None
    if since is not None:
        try:
            since_time = parse_since(since)
        except ValueError as exc:
            raise BadArgument(f"--since: {exc}") from None
    query = RunQuery(flow_name=flow_name, state=state, since=since_time, limit=limit)
    with _store() as store:
        found = [] if store is None else store.list_flow_runs(query)
    if as_json:
        _echo_json([run_json(run) for run in found])
        return
    if not found:
        filtered = any(value is not None for value in (flow_name, state, since))
        click.echo("No flow runs match." if filtered else "No flow runs recorded yet.")
        return
    rows = [("ID", "FLOW", "RUN", "STATE", "STARTED", "DURATION")]
    rows += [
        (
            run.id[:8],
            run.owner_name,
            run.name,
            run.state_name,
            local_time(run.start_time or run.created),
            _duration_cell(run),
        )
        for run in found
    ]
    for line in table(rows):
        click.echo(line)


def _duration_cell(run: RunRecord) -> str:
    if run.start_time is not None and run.end_time is None:
        return f"{format_duration(time.time() - run.start_time)}+"
    return format_duration(run.duration_seconds)


# -- show ---------------------------------------------------------------------------------------


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@_one_line_errors
def runs_show(run_id: str, as_json: bool) -> None:
    """Show a run: its states over time, its task runs, hook errors and failure.

    RUN_ID may be any unique prefix of a flow run's or task run's id.
    """
    with _store() as store:
        run = _resolve(store, run_id)
        assert store is not None
        history_id = run.id if run.kind == "flow" else run.flow_run_id or run.id
        events = store.history(history_id)
        process = None if run.process_id is None else store.process(run.process_id)
        tasks = store.task_runs(run.id) if run.kind == "flow" else []
        subflows = store.subflow_runs(run.id) if run.kind == "flow" else []
        hook_errors = [
            e for e in store.hook_errors(history_id) if run.kind == "flow" or e.run_id == run.id
        ]
    by_run: dict[str, list[EventRecord]] = {}
    for event in events:
        by_run.setdefault(event.run_id, []).append(event)
    own = by_run.get(run.id, [])
    if as_json:
        _echo_json(
            {
                "run": run_json(run),
                "process": process_json(process),
                "events": _events_json(own),
                "task_runs": [
                    {**run_json(task), "events": _events_json(by_run.get(task.id, []))}
                    for task in tasks
                ],
                "subflow_runs": [run_json(subflow) for subflow in subflows],
                "hook_errors": [hook_error_json(error) for error in hook_errors],
            }
        )
        return
    _print_run(run, process, own)
    _print_timeline(own)
    if tasks:
        _print_task_runs(tasks)
    if subflows:
        click.echo(f"\nSubflow runs ({len(subflows)})")
        rows = [("ID", "FLOW", "RUN", "STATE", "DURATION")]
        rows += [
            (s.id[:8], s.owner_name, s.name, s.state_name, _duration_cell(s)) for s in subflows
        ]
        for line in table(rows, "  "):
            click.echo(line)
    if hook_errors:
        click.echo(f"\nHook errors ({len(hook_errors)})")
        for error in hook_errors:
            click.echo(f"  {local_time(error.timestamp, precise=True)}  {error.description}")
    _print_failures(run, own, tasks, by_run)


def _events_json(events: list[EventRecord]) -> list[dict[str, Any]]:
    return [
        event_json(event, events[index + 1] if index + 1 < len(events) else None)
        for index, event in enumerate(events)
    ]


def _print_run(run: RunRecord, process: Any, events: list[EventRecord]) -> None:
    label = "Flow" if run.kind == "flow" else "Task"
    state = run.state_name + (f": {run.state_message}" if run.state_message else "")
    rows = [
        (f"{label} run", run.name),
        ("ID", run.id),
        (label, run.owner_name + (f" ({run.import_path})" if run.import_path else "")),
        ("State", state),
        ("Created", local_time(run.created)),
        ("Started", local_time(run.start_time)),
        ("Ended", local_time(run.end_time)),
        ("Duration", _duration_cell(run)),
        ("Attempts", str(run.run_count)),
    ]
    if run.tags:
        rows.append(("Tags", ", ".join(run.tags)))
    if run.parameters:
        rows.append(("Parameters", json.dumps(run.parameters)))
    if run.parent_flow_run_id:
        rows.append(("Parent run", run.parent_flow_run_id))
    if run.flow_run_id:
        rows.append(("Flow run", run.flow_run_id))
    if process is not None:
        rows.append(
            (
                "Process",
                f"pid {process.pid} on {process.host}, last seen "
                f"{local_time(process.last_heartbeat)}",
            )
        )
    if run.cancel_requested is not None:
        rows.append(("Cancel", f"requested {local_time(run.cancel_requested)}"))
    for line in table(rows):
        click.echo(line)


def _print_timeline(events: list[EventRecord]) -> None:
    click.echo("\nTimeline")
    if not events:
        click.echo("  (no state events recorded)")
        return
    rows = []
    for index, event in enumerate(events):
        following = events[index + 1] if index + 1 < len(events) else None
        lasted = (
            format_duration((following.timestamp - event.timestamp).total_seconds())
            if following is not None
            else ""
        )
        moment = local_time(event.timestamp.timestamp(), precise=True)
        rows.append((moment, event.name, lasted, event.state.get("message") or ""))
    for line in table(rows, "  "):
        click.echo(line.rstrip())


def _print_task_runs(tasks: list[RunRecord]) -> None:
    click.echo(f"\nTask runs ({len(tasks)})")
    rows = [("ID", "TASK", "RUN", "STATE", "DURATION", "ATTEMPTS")]
    rows += [
        (t.id[:8], t.owner_name, t.name, t.state_name, _duration_cell(t), str(t.run_count))
        for t in tasks
    ]
    for line in table(rows, "  "):
        click.echo(line)


def _failure(events: list[EventRecord]) -> EventRecord | None:
    """The last event that carries an exception."""
    for event in reversed(events):
        if event.state.get("exception") is not None:
            return event
    return None


def _print_failure(title: str, event: EventRecord) -> None:
    exception = event.state["exception"]
    click.echo(f"\n{title}")
    click.echo(f"  {exception['type']}: {exception['message']}")
    if event.traceback:
        for line in event.traceback.rstrip().splitlines():
            click.echo(f"  {line}")


def _print_failures(
    run: RunRecord,
    own: list[EventRecord],
    tasks: list[RunRecord],
    by_run: dict[str, list[EventRecord]],
) -> None:
    failure = _failure(own) if run.state_type in ("FAILED", "CRASHED") else None
    if failure is not None:
        _print_failure("Failure", failure)
    failed = [t for t in tasks if t.state_type in ("FAILED", "CRASHED")]
    for task in failed[:3]:
        event = _failure(by_run.get(task.id, []))
        if event is not None:
            _print_failure(f"Failure of task run {task.name!r} ({task.id[:8]})", event)
    if len(failed) > 3:
        click.echo(
            f"\n... and {len(failed) - 3} more failed task runs: flowhook runs show TASK_RUN_ID"
        )


# -- prune --------------------------------------------------------------------------------------


@runs.command("prune")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="AGE",
    help="Delete finished runs that ended longer ago than this: 30d, 12h, 2w.",
)
@_one_line_errors
def runs_prune(older_than: str) -> None:
    """Delete the history of finished runs older than AGE (unfinished runs are kept)."""
    before = time.time() - _duration(older_than, "--older-than")
    with _store() as store:
        if store is None:
            click.echo("Nothing to prune: no runs recorded yet.")
            return
        report = store.prune(before)
    click.echo(
        f"Deleted {report.flow_runs} flow runs, {report.task_runs} task runs and "
        f"{report.events} state events that ended before {local_time(before)} "
        f"(older than {older_than})."
    )


# -- reap ---------------------------------------------------------------------------------------


def _report_reaped(reaped: list[ReapedRun]) -> None:
    for item in reaped:
        run = item.run
        click.echo(
            f"Crashed {run.kind} run {run.name!r} ({run.id[:8]}, {run.kind} {run.owner_name}): "
            f"{item.message}"
        )


def _importable_here() -> None:
    """Let the reaper import flows from the current directory, as ``python -m`` would."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)


@runs.command("reap")
@_one_line_errors
def runs_reap() -> None:
    """Mark Crashed the runs whose process died, and fire their hooks.

    A crashed flow's own on_crashed hooks run when its module can be imported here (from the
    current directory or the Python path).
    """
    settings = _settings()
    _importable_here()
    with _store() as store:
        reaped = [] if store is None else reap(store, settings=settings)
    _report_reaped(reaped)
    if not reaped:
        click.echo("Nothing to reap: no unfinished run belongs to a dead process.")


# -- cancel -------------------------------------------------------------------------------------


@runs.command("cancel")
@click.argument("run_id")
@click.option("--message", default=None, help="Why; becomes the Cancelling state's message.")
@_one_line_errors
def runs_cancel(run_id: str, message: str | None) -> None:
    """Ask the process running a flow run to cancel it (within one heartbeat)."""
    settings = _settings()
    with _store() as store:
        run = _resolve(store, run_id)
        assert store is not None
        if run.kind != "flow":
            raise click.ClickException(
                f"{run.id[:8]} is a task run; cancel its flow run {str(run.flow_run_id)[:8]} instead"
                if run.flow_run_id
                else f"{run.id[:8]} is a task run outside any flow: only flow runs can be cancelled"
            )
        reason = message or "Cancelled with 'flowhook runs cancel'"
        if run.is_final or not store.request_cancel(run.id, reason, time.time()):
            current = store.get_run("flow", run.id) or run
            raise click.ClickException(
                f"flow run {run.name!r} ({run.id[:8]}) is already {current.state_name}; "
                "there is nothing to cancel"
            )
        process = None if run.process_id is None else store.process(run.process_id)
    click.echo(f"Cancel requested for flow run {run.name!r} ({run.id[:8]}).")
    if process is None:
        return
    dead = death_reason(process, time.time(), settings.crash_after_seconds)
    if dead is None:
        click.echo(
            f"Its process (pid {process.pid} on {process.host}) will cancel it within about "
            f"{settings.heartbeat_seconds:g} s."
        )
    else:
        click.echo(
            f"But its process (pid {process.pid} on {process.host}) looks dead ({dead}); "
            "'flowhook runs reap' will mark the run Crashed."
        )


# -- watch --------------------------------------------------------------------------------------


@click.command("watch")
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.05),
    help="Seconds between two looks.",
)
def watch(interval: float) -> None:
    """Keep reaping crashed runs every few seconds, until Ctrl-C.

    Ctrl-C (or SIGTERM) lets the look under way finish, hooks included, then stops; a second
    Ctrl-C stops at once.
    """
    settings = _settings()
    _importable_here()
    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    click.echo(f"Watching {settings.database} every {interval:g} s; Ctrl-C stops.")
    try:
        while not stop.is_set():
            _watch_once(settings)
            stop.wait(interval)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("Stopped.")


def _watch_once(settings: StoreSettings) -> None:
    if not settings.database.exists():
        return
    try:
        store = open_store(settings, create=False)
    except (StoreError, ConfigError) as exc:
        logger.error("%s", exc)
        return
    try:
        _report_reaped(reap(store, settings=settings))
        _deliver(store)
    except (sqlite3.Error, StoreError) as exc:
        logger.error("could not look for crashed runs in %s: %s", settings.database, exc)
    finally:
        store.close()


def _deliver(store: Any) -> None:
    """Send the notifications that are due (left by processes that died or exited early)."""
    from .._runtime.attach import load_block_notifier
    from ..notifications import deliver_due

    _, sent = deliver_due(store, load_block_notifier, f"watch:{os.getpid()}", limit=200)
    if sent:
        click.echo(f"Delivered {sent} notification{'s' if sent != 1 else ''}.")
