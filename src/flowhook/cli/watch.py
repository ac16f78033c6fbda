"""``flowhook watch``: reap crashed runs and deliver the outbox, every few seconds."""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
from typing import Any

import click

from flowhook_hookspec.errors import ConfigError

from .._runtime.reaper import reap
from ..store import Store, StoreError, StoreSettings, open_store
from .common import SecondsRange, command_settings, deliver_now, importable_here, report_reaped

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
    `flowhook runs reap` does), then delivers the notifications that are due: those that a
    process which died or exited early left in the outbox, and retries that have come due.
    Ctrl-C (or SIGTERM) lets the look under way finish, hooks included, then stops; a second
    Ctrl-C stops at once.
    """
    settings = command_settings()
    importable_here()
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
        report_reaped(reap(store, settings=settings))
        _deliver(store)
    except (sqlite3.Error, StoreError) as exc:
        logger.error("could not look for crashed runs in %s: %s", settings.database, exc)
    finally:
        store.close()


def _deliver(store: Store) -> None:
    """Send the notifications that are due (left by processes that died or exited early)."""
    sent = deliver_now(store, "watch").sent
    if sent:
        click.echo(f"Delivered {sent} notification{'s' if sent != 1 else ''}.")
