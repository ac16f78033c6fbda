"""``flowhook runs ...``: run history, pruning, reaping and cancelling on the command line."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import click

from ..store import (
    EventRecord,
    RunQuery,
    RunRecord,
    death_reason,
    recorded_trace_id,
)
from .common import (
    BadArgument,
    IntegerRange,
    command_settings,
    command_store,
    deliver_now,
    echo_json,
    importable_here,
    moment_ago_option,
    one_line_errors,
    report_reaped,
    resolve_run,
)
from .run_logs import runs_logs
from .views import (
    event_json,
    format_duration,
    hook_error_json,
    local_time,
    parse_since,
    process_json,
    run_json,
    table,
)

__all__ = ["runs"]

logger = logging.getLogger("flowhook.cli")


@click.group("runs")
def runs() -> None:
    """Run history: list, show, read the logs of, prune, reap and cancel the runs recorded in
    $FLOWHOOK_HOME."""


# -- ls -----------------------------------------------------------------------------------------


@runs.command("ls")
@click.option("--flow", "flow_name", metavar="NAME", help="Only runs of this flow.")
@click.option("--state", metavar="STATE", help="Only runs in this state (type or name, any case).")
@click.option("--since", metavar="WHEN", help="Only runs created since: 2h, 7d, or a date/time.")
@click.option("--limit", default=20, show_default=True, type=IntegerRange(minimum=1))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@one_line_errors
def runs_ls(
    flow_name: str | None, state: str | None, since: str | None, limit: int, as_json: bool
) -> None:
    """List flow runs, and task runs called outside any flow, newest first."""
    since_time = None
    if since is not None:
        try:
            since_time = parse_since(since)
        except ValueError as exc:
            raise BadArgument(f"--since: {exc}") from None
    query = RunQuery(flow_name=flow_name, state=state, since=since_time, limit=limit)
    with command_store() as store:
        found = [] if store is None else store.list_flow_runs(query)
    if as_json:
        echo_json([run_json(run) for run in found])
        return
    if not found:
        filtered = any(value is not None for value in (flow_name, state, since))
        click.echo("No flow runs match." if filtered else "No flow runs recorded yet.")
        return
    rows = [("ID", "FLOW", "RUN", "STATE", "STARTED", "DURATION")]
    rows += [
        (
            run.id[:8],
            run.owner_name if run.kind == "flow" else f"{run.owner_name} (task)",
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
@one_line_errors
def runs_show(run_id: str, as_json: bool) -> None:
    """Show a run: its states over time, its task runs, hook errors and failure.

    RUN_ID may be any unique prefix of a flow run's or task run's id.
    """
    with command_store() as store:
        run = resolve_run(store, run_id)
        assert store is not None
        history_id = run.id if run.kind == "flow" else run.flow_run_id or run.id
        events = store.history(history_id)
        process = None if run.process_id is None else store.process(run.process_id)
        tasks = store.task_runs(run.id) if run.kind == "flow" else []
        subflows = store.subflow_runs(run.id) if run.kind == "flow" else []
        hook_errors = [
            e for e in store.hook_errors(history_id) if run.kind == "flow" or e.run_id == run.id
        ]
        trace_id = recorded_trace_id(store, run)
    by_run: dict[str, list[EventRecord]] = {}
    for event in events:
        by_run.setdefault(event.run_id, []).append(event)
    own = by_run.get(run.id, [])
    if as_json:
        echo_json(
            {
                "run": run_json(run),
                "trace_id": trace_id,
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
    _print_run(run, process, own, trace_id)
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


def _print_run(
    run: RunRecord, process: Any, events: list[EventRecord], trace_id: str | None
) -> None:
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
    if trace_id:
        rows.append(("Trace", trace_id))
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
@click.option("--dry-run", is_flag=True, help="Say what would be deleted, and delete nothing.")
@one_line_errors
def runs_prune(older_than: str, dry_run: bool) -> None:
    """Delete the history of finished runs older than AGE (unfinished runs are kept), and the
    notifications sent before then (pending and dead ones are kept)."""
    before = moment_ago_option(older_than, "--older-than")
    crash_after = command_settings().crash_after_seconds
    with command_store() as store:
        if store is None:
            click.echo("Nothing to prune: no runs recorded yet.")
            return
        report = store.prune(before, dry_run=dry_run, crash_after_seconds=crash_after)
    sent = report.sent_messages
    click.echo(
        f"{'Would delete' if dry_run else 'Deleted'} {report.flow_runs} flow runs, "
        f"{report.task_runs} task runs, {report.events} state events and {report.logs} log "
        "records of runs that ended before "
        f"{local_time(before)} (older than {older_than}), and {sent} sent "
        f"notification{'' if sent == 1 else 's'}{'; nothing was deleted' if dry_run else ''}."
    )


# -- reap ---------------------------------------------------------------------------------------


@runs.command("reap")
@one_line_errors
def runs_reap() -> None:
    """Mark Crashed the runs whose process died, fire their hooks, and send due notifications.

    A crashed flow's own on_crashed hooks run when its module can be imported here (from the
    current directory or the Python path).
    """
    settings = command_settings()
    importable_here()
    with command_store() as store:
        from .._runtime.reaper import reap  # the engine's and the notifications': when reaping

        reaped = [] if store is None else reap(store, settings=settings)
        delivery = None if store is None else deliver_now(store, "reap")
    report_reaped(reaped)
    if not reaped:
        click.echo("Nothing to reap: no unfinished run belongs to a dead process.")
    if delivery is not None and (delivery.sent or delivery.pending):
        click.echo(delivery.summary())


# -- cancel -------------------------------------------------------------------------------------


@runs.command("cancel")
@click.argument("run_id")
@click.option("--message", default=None, help="Why; becomes the Cancelling state's message.")
@one_line_errors
def runs_cancel(run_id: str, message: str | None) -> None:
    """Ask the process running a flow run to cancel it (within one heartbeat)."""
    settings = command_settings()
    with command_store() as store:
        run = resolve_run(store, run_id)
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


runs.add_command(runs_logs)
