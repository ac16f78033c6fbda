"""What the store commands share: the store opened for a command, and errors as one line.

Every error a user can cause (an unknown or ambiguous id, a bad duration, an unreadable or
corrupt database) is one line on stderr and exit status 1 (or 2 for a malformed argument),
never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from flowhook_hookspec.errors import ConfigError

from .._runtime.attach import load_block_notifier
from .._runtime.reaper import ReapedRun
from ..notifications import DeliveryReport, deliver_within
from ..store import RunRecord, Store, StoreError, StoreSettings, load_settings, open_store
from .views import parse_duration

__all__ = [
    "BadArgument",
    "command_settings",
    "command_store",
    "deliver_now",
    "echo_json",
    "importable_here",
    "one_line_errors",
    "parse_duration_option",
    "report_reaped",
    "resolve_run",
]

F = TypeVar("F", bound=Callable[..., Any])

_ID = re.compile(r"[0-9a-f-]{1,36}")


class BadArgument(click.ClickException):
    """A malformed argument: one line, exit status 2."""

    exit_code = 2


def command_settings() -> StoreSettings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise BadArgument(str(exc)) from None


@contextmanager
def command_store(create: bool = False) -> Iterator[Store | None]:
    """The store, or None when no database exists yet; errors become one-line messages."""
    settings = command_settings()
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


def one_line_errors(command: F) -> F:
    """Turn database errors that happen while a command reads or writes into one-line errors."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except sqlite3.Error as exc:
            location = command_settings().database
            raise click.ClickException(
                f"cannot use the flowhook database {location}: {exc}"
            ) from None
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def parse_duration_option(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise BadArgument(f"{option}: {exc}") from None


def resolve_run(store: Store | None, text: str) -> RunRecord:
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


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


def report_reaped(reaped: list[ReapedRun]) -> None:
    for item in reaped:
        run = item.run
        click.echo(
            f"Crashed {run.kind} run {run.name!r} ({run.id[:8]}, {run.kind} {run.owner_name}): "
            f"{item.message}"
        )


def importable_here() -> None:
    """Let the reaper import flows from the current directory, as ``python -m`` would."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)


def deliver_now(store: Store, command: str, within: float = 0.0) -> DeliveryReport:
    """Deliver the due notifications, and retries that come due within ``within`` seconds.

    Claims carry ``<command>:<pid>``, so that the outbox shows who holds a message.
    """
    return deliver_within(store, load_block_notifier, f"{command}:{os.getpid()}", within)
