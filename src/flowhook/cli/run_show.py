"""``flowhook runs show``: a run's detail, as the read model (:mod:`flowhook.views`) gives it."""

from __future__ import annotations

import json
from typing import Any

import click

from flowhook_hookspec.run_ids import short_run_id

from ..store import EventRecord, ProcessRecord, RunRecord
from ..views import (
    LOGS_SHOWN,
    MAX_TASKS_SHOWN,
    TASKS_SHOWN,
    RunDetail,
    TaskPage,
    detail_json,
    format_duration,
    local_time,
    run_detail,
    run_duration,
)
from .arguments import IntegerRange, resolve_run, task_query
from .errors import one_line_errors
from .output import echo_json, table
from .stores import command_store

__all__ = ["runs_show"]


@click.command("show")
@click.argument("run_id")
@click.option(
    "--state",
    "states",
    multiple=True,
    help="Only the task runs of these state types (repeat or comma-separate: failed,crashed).",
)
@click.option(
    "--limit",
    type=IntegerRange(1, MAX_TASKS_SHOWN),
    default=TASKS_SHOWN,
    show_default=True,
    help="How many task runs to print.",
)
@click.option("--after", metavar="CURSOR", help="The page of task runs after this cursor.")
@click.option("--before", metavar="CURSOR", help="The page of task runs before this cursor.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@one_line_errors
def runs_show(run_id: str, as_json: bool, **tasks: Any) -> None:
    """Show a run: its states over time, its task runs (a page of them, with how many are in
    each state), hook errors, notifications and failure.

    RUN_ID may be any unique prefix of a flow run's or task run's id. The page's last line
    gives the options of the next page (the UI's run page takes the same as ``?state=``,
    ``?limit=``, ``?after=``, ``?before=``).
    """
    query = task_query(**tasks)
    with command_store() as store:
        run = resolve_run(store, run_id)
        assert store is not None
        detail = run_detail(store, run, tasks=query)
    if as_json:
        echo_json(detail_json(detail))
        return
    _print_run(detail)
    _print_timeline(detail.events)
    if detail.task_page is not None:
        _print_task_page(run.id, detail.task_page, detail.now)
    if detail.subflow_runs:
        click.echo(f"\n{detail.headings['subflow_runs']}")
        _print_runs(detail.subflow_runs, detail.now, attempts=False)
    if detail.hook_errors:
        click.echo(f"\n{detail.headings['hook_errors']}")
        for error in detail.hook_errors:
            click.echo(f"  {local_time(error.timestamp, precise=True)}  {error.description}")
    _print_notifications(detail)
    _print_failures(detail)


def _process_line(process: ProcessRecord) -> str:
    return f"pid {process.pid} on {process.host}, last seen {local_time(process.last_heartbeat)}"


def _print_run(detail: RunDetail) -> None:
    run = detail.run
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
        ("Duration", run_duration(run, detail.now)),
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
    if detail.process is not None:
        rows.append(("Process", _process_line(detail.process)))
    if run.cancel_requested is not None:
        rows.append(("Cancel", f"requested {local_time(run.cancel_requested)}"))
    if detail.trace_id:
        rows.append(("Trace", detail.trace_id))
    if detail.logs:
        count = len(detail.logs)
        shown = f"the first {count}" if count >= LOGS_SHOWN else str(count)
        records = f"{shown} record{'' if count == 1 else 's'}"
        rows.append(("Logs", f"{records}: flowhook runs logs {short_run_id(run.id)}"))
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


def _print_task_page(run_id: str, page: TaskPage, now: float) -> None:
    """The page's task runs, under how many of them there are in each state; then the
    commands that print the pages around it."""
    if not page.total:
        return
    counts = ", ".join(f"{count} {state.lower()}" for state, count in page.counts)
    states = f"{', '.join(page.query.states).lower()}: " if page.query.states else ""
    click.echo(f"\nTask runs ({page.total})")
    click.echo(f"  {counts}; {states}{len(page.runs)} of {page.matching} shown")
    _print_runs(page.runs, now, attempts=True)
    command = f"flowhook runs show {short_run_id(run_id)}"
    if page.query.states:
        command += f" --state {','.join(page.query.states).lower()}"
    if page.query.limit != TASKS_SHOWN:
        command += f" --limit {page.query.limit}"
    for name, cursor, option in (
        ("Previous", page.previous_cursor, "--before"),
        ("Next", page.next_cursor, "--after"),
    ):
        if cursor is not None:
            click.echo(f"  {name} page: {command} {option} {cursor}")


def _print_runs(found: list[RunRecord], now: float, *, attempts: bool) -> None:
    if not found:
        return
    rows = [("ID", "TASK" if attempts else "FLOW", "RUN", "STATE", "DURATION", "ATTEMPTS")]
    rows += [
        (
            short_run_id(r.id),
            r.owner_name,
            r.name,
            r.state_name,
            run_duration(r, now),
            str(r.run_count),
        )
        for r in found
    ]
    for line in table([row if attempts else row[:-1] for row in rows], "  "):
        click.echo(line)


def _print_notifications(detail: RunDetail) -> None:
    if not detail.notifications:
        return
    click.echo(f"\n{detail.headings['notifications']}")
    rows = [("ID", "BLOCK", "STATUS", "SUBJECT")]
    rows += [
        (str(m.id), m.block, m.status, m.subject or m.body.split("\n", 1)[0])
        for m in detail.notifications
    ]
    for line in table(rows, "  "):
        click.echo(line)


def _print_failures(detail: RunDetail) -> None:
    for failure in detail.failures:
        run = failure.run
        title = (
            "Failure"
            if run.id == detail.run.id
            else f"Failure of task run {run.name!r} ({short_run_id(run.id)})"
        )
        click.echo(f"\n{title}")
        click.echo(f"  {failure.type}: {failure.message}")
        if failure.traceback:
            for line in failure.traceback.rstrip().splitlines():
                click.echo(f"  {line}")
    if detail.more_failed_tasks:
        click.echo(
            f"\n... and {detail.more_failed_tasks} more failed task runs: "
            "flowhook runs show TASK_RUN_ID"
        )
