"""``flowhook watch``: reap crashed runs and deliver the outbox, every few seconds."""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING

import click

from flowhook_hookspec.errors import ConfigError

from .._runtime.reaper import reap
from ..store import StoreError, StoreSettings, open_store
from .arguments import SecondsRange
from .interrupts import StopRequest, stop_on_signals
from .stores import command_settings, deliver_now, importable_here, registered, report_reaped

if TYPE_CHECKING:
    from .._runtime.claimant import Claimant

__all__ = ["watch"]

logger = logging.getLogger("flowhook.cli")


@click.command("watch")
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=SecondsRange(minimum=0.05, maximum=24 * 3600),
    help="Seconds between two looks.",
)
def watch(interval: float) -> None:
    """Reap crashed runs and deliver due notifications, every few seconds, until Ctrl-C.

    Each look marks Crashed the runs whose process died and fires their hooks (as
    `flowhook runs reap` does). A thread of its own delivers the notifications that are due:
    those that a process which died or exited early left in the outbox, and retries that have
    come due; a send that hangs never holds up reaping. Ctrl-C (or SIGTERM) lets the look under
    way finish, hooks included, then stops, without waiting for a send in flight (its claim is
    freed by the next reaper); a second Ctrl-C stops at once.
    """
    settings = command_settings()
    importable_here()
    looked = threading.Event()
    with stop_on_signals(signal.SIGINT, signal.SIGTERM) as stop, registered("watch") as claimant:
        click.echo(f"Watching {settings.location} every {interval:g} s; Ctrl-C stops.")
        sender = threading.Thread(
            target=_deliver_while,
            args=(settings, claimant, stop, looked),
            name="flowhook-watch-delivery",
        )
        sender.daemon = True  # a send that hangs must not keep the process alive after Ctrl-C
        sender.start()
        while not stop.requested:
            _watch_once(settings, claimant)
            looked.set()
            stop.wait(interval)
    click.echo("Stopped.")


def _watch_once(settings: StoreSettings, claimant: Claimant) -> None:
    if not settings.exists():
        return
    try:
        store = open_store(settings, create=False)
    except (StoreError, ConfigError) as exc:
        logger.error("%s", exc)
        return
    try:
        report_reaped(reap(store, settings=settings, worker=claimant.id))
    except StoreError as exc:
        logger.error("could not look for crashed runs in %s: %s", settings.location, exc)
    finally:
        store.close()


def _deliver_while(
    settings: StoreSettings, claimant: Claimant, stop: StopRequest, looked: threading.Event
) -> None:
    """Send the due notifications after each look, in this thread, until ``stop``."""
    while not stop.requested:
        looked.wait()
        looked.clear()
        if stop.requested or not settings.exists():
            continue
        try:
            store = open_store(settings, create=False)
        except (StoreError, ConfigError) as exc:
            logger.error("%s", exc)
            continue
        try:
            sent = deliver_now(store, claimant).sent
        except StoreError as exc:
            logger.error("could not deliver notifications from %s: %s", settings.location, exc)
            continue
        finally:
            store.close()
        if sent:
            click.echo(f"Delivered {sent} notification{'s' if sent != 1 else ''}.")
