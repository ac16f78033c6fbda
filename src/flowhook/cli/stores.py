"""The store as the commands open it, and what the commands that reap and deliver share."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from flowhook_hookspec.errors import ConfigError
from flowhook_hookspec.run_ids import short_run_id

from ..store import (
    Store,
    StoreError,
    StoreSettings,
    load_settings,
    open_existing_store,
    open_store,
)
from .errors import BadArgument

if TYPE_CHECKING:
    from .._runtime.claimant import Claimant
    from .._runtime.reaper import ReapedRun
    from ..notifications import DeliveryReport

__all__ = [
    "command_settings",
    "command_store",
    "deliver_now",
    "importable_here",
    "registered",
    "report_reaped",
]


def command_settings() -> StoreSettings:
    """The store's settings from the environment; a bad one is a one-line error (exit 2)."""
    try:
        return load_settings()
    except ConfigError as exc:
        raise BadArgument(str(exc)) from None


@contextmanager
def command_store(create: bool = False) -> Iterator[Store | None]:
    """The store, or None when no database exists yet (then nothing is created, unless
    ``create``); errors become one-line messages."""
    settings = command_settings()
    try:
        store = open_store(settings) if create else open_existing_store(settings)
    except (StoreError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    finally:
        if store is not None:
            store.close()


def report_reaped(reaped: list[ReapedRun]) -> None:
    """One line for each run the reaper marked Crashed."""
    for item in reaped:
        run = item.run
        click.echo(
            f"Crashed {run.kind} run {run.name!r} ({short_run_id(run.id)}, {run.kind} {run.owner_name}): "
            f"{item.message}"
        )


def importable_here() -> None:
    """Let the reaper import flows from the current directory, as ``python -m`` would."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)


@contextmanager
def registered(command: str) -> Iterator[Claimant]:
    """This command as a registered process while it runs: its claims carry its id, and a
    reaper on any host frees them if it dies (see :class:`~flowhook._runtime.claimant.Claimant`).
    """
    from .._runtime.claimant import Claimant

    claimant = Claimant(command, command_settings())
    try:
        yield claimant
    finally:
        claimant.close()


def deliver_now(store: Store, claimant: Claimant, within: float = 0.0) -> DeliveryReport:
    """Free the claims of delivering processes that died, then deliver the due notifications,
    and retries that come due within ``within`` seconds, as ``claimant``."""
    from .._runtime.attach import load_block_notifier  # the engine's, the notifications'
    from .._runtime.reaper import release_dead_claims
    from ..notifications import deliver_within

    settings = command_settings()
    release_dead_claims(store, store.clock(), settings.crash_after_seconds)
    due = store.next_outbox_attempt()
    worker = claimant.id(register=due is not None and due <= time.time() + within)
    return deliver_within(store, load_block_notifier, worker, within)
