"""``flowhook deliver``: send what the outbox holds, once, and exit (made for cron)."""

from __future__ import annotations

import click

from .arguments import SecondsRange
from .errors import one_line_errors
from .stores import command_store, deliver_now, registered

__all__ = ["deliver"]


@click.command("deliver")
@click.option(
    "--within",
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    type=SecondsRange(minimum=0, maximum=24 * 3600),
    help="Also wait for retries that come due within SECONDS.",
)
@one_line_errors
def deliver(within: float) -> None:
    """Deliver every notification that is due, once, then exit.

    Failed sends are retried as they come due while --within lasts. Prints one summary line;
    exit status 0 when nothing is left pending, 1 otherwise. For cron, e.g. every minute:
    `* * * * * cd /srv/etl && .venv/bin/flowhook deliver --within 50`.
    """
    with command_store() as store, registered("deliver") as claimant:
        if store is None:
            click.echo("Nothing to deliver: there is no flowhook database yet.")
            return
        report = deliver_now(store, claimant, within)
    click.echo(report.summary())
    if report.pending:
        raise SystemExit(1)
