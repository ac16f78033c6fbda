"""``flowhook runs ...``: run history, pruning, reaping, cancelling and resuming on the command
line.

What the commands print comes from the read model (:mod:`flowhook.views`), as the web UI's
pages do: the same filters, the same lookup by id prefix, the same durations and explanations.
"""

from __future__ import annotations

import time

import click

from flowhook_hookspec.run_ids import short_run_id

from ..views import list_runs, local_time, run_duration
from .arguments import IntegerRange, moment_ago_option, resolve_run, run_filters
from .errors import one_line_errors
from .group import FlowhookGroup
from .output import echo_json, table
from .stores import (
    command_settings,
    command_store,
    deliver_now,
    importable_here,
    registered,
    report_reaped,
)

__all__ = ["runs"]


@click.group(
    "runs",
    cls=FlowhookGroup,
    lazy_commands={"show": ".run_show:runs_show", "logs": ".run_logs:runs_logs"},
)
def runs() -> None:
    """Run history: list, show, read the logs of, prune, reap, cancel and resume the runs
    recorded in $FLOWHOOK_HOME."""


# -- ls -----------------------------------------------------------------------------------------


@runs.command("ls")
@click.option("--flow", "flow_name", metavar="NAME", help="Only runs of this flow.")
@click.option(
    "--state",
    "states",
    metavar="STATE",
    multiple=True,
    help="Only runs in this state (type or name, any case); repeat it or use commas for several.",
)
@click.option(
    "--tag",
    "tags",
    metavar="TAG",
    multiple=True,
    help="Only runs with this tag (all of them, if repeated).",
)
@click.option("--since", metavar="WHEN", help="Only runs created since: 2h, 7d, or a date/time.")
@click.option("--until", metavar="WHEN", help="Only runs created before: 2h, 7d, or a date/time.")
@click.option("--limit", default=20, show_default=True, type=IntegerRange(minimum=1))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@one_line_errors
def runs_ls(
    flow_name: str | None,
    states: tuple[str, ...],
    tags: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List flow runs, and task runs called outside any flow, newest first."""
    filters = run_filters(
        flow=flow_name, states=states, tags=tags, since=since, until=until, limit=limit
    )
    with command_store() as store:
        found = list_runs(store, filters).runs
    if as_json:
        from ..views import runs_json  # the JSON forms load the detail's records

        echo_json(runs_json(found))
        return
    if not found:
        click.echo("No flow runs match." if filters.filtered else "No flow runs recorded yet.")
        return
    now = time.time()
    rows = [("ID", "FLOW", "RUN", "STATE", "STARTED", "DURATION")]
    rows += [
        (
            short_run_id(run.id),
            run.owner_name if run.kind == "flow" else f"{run.owner_name} (task)",
            run.name,
            run.state_name,
            local_time(run.start_time or run.created),
            run_duration(run, now),
        )
        for run in found
    ]
    for line in table(rows):
        click.echo(line)


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
    with command_store() as store, registered("reap") as claimant:
        from .._runtime.reaper import reap  # the engine's and the notifications': when reaping

        reaped = [] if store is None else reap(store, settings=settings, worker=claimant.id)
        delivery = None if store is None else deliver_now(store, claimant)
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
    from ..views import CannotCancel, request_cancel  # the process registry: not for runs ls

    settings = command_settings()
    with command_store() as store:
        run = resolve_run(store, run_id)
        assert store is not None
        reason = message or "Cancelled with 'flowhook runs cancel'"
        try:
            outcome = request_cancel(store, run, reason, settings)
        except CannotCancel as exc:
            raise click.ClickException(str(exc)) from None
    for line in outcome.lines:
        click.echo(line)


# -- resume -------------------------------------------------------------------------------------


@runs.command("resume")
@click.argument("run_id")
@one_line_errors
def runs_resume(run_id: str) -> None:
    """Resume a paused flow run: its process (which waits in pause_flow_run) goes on within a
    second."""
    from ..views import CannotResume, request_resume

    with command_store() as store:
        run = resolve_run(store, run_id)
        assert store is not None
        try:
            said = request_resume(store, run)
        except CannotResume as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(said)
