"""What the commands share: the store opened for a command, and errors as one line.

Every error a user can cause (an unknown or ambiguous id, a bad duration, a number out of range,
an argument that is not text, an unreadable or damaged database) is one line on stderr and exit
status 1 (or 2 for a malformed argument), never a traceback. :class:`FlowhookGroup`, the class
of the ``flowhook`` group, checks the arguments before any command runs and turns every error a
command raises into that line (:func:`one_line_errors`), plugins' commands included.
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from flowhook_hookspec.errors import ConfigError, FlowhookError

from ..store import (
    RunRecord,
    Store,
    StoreError,
    StoreSettings,
    load_settings,
    local_worker_id,
    open_existing_store,
    open_store,
)
from .views import moment_ago

if TYPE_CHECKING:
    from .._runtime.reaper import ReapedRun
    from ..notifications import DeliveryReport

__all__ = [
    "MAX_INTEGER",
    "BadArgument",
    "FlowhookGroup",
    "IntegerRange",
    "LazyCommands",
    "SecondsRange",
    "command_settings",
    "command_store",
    "deliver_now",
    "echo_json",
    "importable_here",
    "moment_ago_option",
    "one_line",
    "one_line_errors",
    "report_reaped",
    "resolve_run",
    "strict_json",
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


# -- errors as one line -------------------------------------------------------------------------


def one_line(text: str) -> str:
    """``text`` as one printable line: runs of white space (newlines too) become one space, and
    what a terminal cannot show (control characters, the lone surrogates that stand for bytes
    that were not UTF-8) is escaped, e.g. ``\\xff``."""
    line = " ".join(text.split())
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() else _escaped(c) for c in line)


def _escaped(char: str) -> str:
    if "\udc80" <= char <= "\udcff":  # a byte that was not UTF-8, as os.fsdecode hands it over
        return char.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
    return char.encode("unicode_escape").decode("ascii")


class OneLineError(click.ClickException):
    """An error shown as one printable line (see :func:`one_line`), exit status 1."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def _database() -> str:
    try:
        return load_settings().location
    except ConfigError:
        return "in $FLOWHOOK_HOME"


def _is_sqlite_error(exc: Exception) -> bool:
    """Whether ``exc`` is the sqlite3 module's, without importing it (the store may be
    PostgreSQL's, whose errors are all :class:`StoreError`)."""
    return any(cls.__module__ == "sqlite3" and cls.__name__ == "Error" for cls in type(exc).__mro__)


def user_error(exc: Exception) -> click.ClickException:
    """The one-line error the user sees for ``exc``, raised while a command ran."""
    if isinstance(exc, click.ClickException):
        if isinstance(exc, click.UsageError) or one_line(exc.message) == exc.message:
            return exc
        return (
            BadArgument(one_line(exc.message)) if exc.exit_code == 2 else OneLineError(exc.message)
        )
    if _is_sqlite_error(exc):
        return OneLineError(f"cannot use the flowhook database {_database()}: {exc}")
    if isinstance(exc, (StoreError, FlowhookError)):
        return OneLineError(str(exc))
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return OneLineError(f"{exc.strerror or exc}{where}")
    return OneLineError(
        f"unexpected {type(exc).__name__}: {exc} (a bug in flowhook or in a plugin: please "
        "report it, with the command that caused it)"
    )


def _passes_through(exc: Exception) -> bool:
    """Exceptions that click itself shows or handles: exits, aborts, end of input, a closed
    pipe (``flowhook runs ls | head``)."""
    return isinstance(exc, (click.exceptions.Exit, click.Abort, EOFError)) or (
        isinstance(exc, OSError) and exc.errno == errno.EPIPE
    )


def one_line_errors(command: F) -> F:
    """Make every error that ``command`` raises one line on stderr, never a traceback.

    Database errors name the database, the store's and flowhook's own errors say what they
    say, and anything else is an unexpected error, named with its type. Nothing is retried:
    a command that fails has failed before it wrote, or inside a transaction that rolled back.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            if _passes_through(exc):
                raise
            error = user_error(exc)
            if error is exc:
                raise
            raise error from None

    return wrapper  # type: ignore[return-value]


def refuse_undecodable(args: Sequence[str]) -> None:
    """A one-line error (exit 2) for an argument that is not text: bytes that were not valid in
    the terminal's encoding, which Python hands over as lone surrogates."""
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            encoding = sys.getfilesystemencoding().upper()
            raise BadArgument(
                f"the argument '{one_line(arg)}' is not valid {encoding} text: give names and "
                f"values in {encoding}"
            ) from None


class LazyCommands(dict[str, click.Command]):
    """A group's commands, where those named in ``lazy`` (name: ``"module:attribute"``,
    relative to this package) are imported when first looked up. Listing them (iterating,
    ``len``) imports them all; looking one up (``[]``, ``get``, ``in``) imports that one."""

    def __init__(self, commands: dict[str, click.Command], lazy: dict[str, str]) -> None:
        super().__init__(commands)
        self.lazy = dict(lazy)

    def _load(self, name: str) -> None:
        import importlib

        module, _, attribute = self.lazy.pop(name).partition(":")
        self[name] = getattr(importlib.import_module(module, __package__), attribute)

    def load_all(self) -> None:
        for name in list(self.lazy):
            self._load(name)

    def __missing__(self, name: str) -> click.Command:
        if name not in self.lazy:
            raise KeyError(name)
        self._load(name)
        return self[name]

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self.lazy

    def __iter__(self) -> Iterator[str]:
        self.load_all()
        return super().__iter__()

    def __len__(self) -> int:
        self.load_all()
        return super().__len__()

    def keys(self) -> Any:
        self.load_all()
        return super().keys()

    def values(self) -> Any:
        self.load_all()
        return super().values()

    def items(self) -> Any:
        self.load_all()
        return super().items()

    def pop(self, name: str, *default: Any) -> Any:
        if name in self.lazy:
            self._load(name)
        return super().pop(name, *default)


class FlowhookGroup(click.Group):
    """The ``flowhook`` group: every argument is checked to be text before any command runs
    (so that a refused command writes nothing), and every command runs under
    :func:`one_line_errors`.

    Commands named in ``lazy_commands`` (see :class:`LazyCommands`) are imported when they are
    run or listed, not before: ``flowhook runs cancel`` never imports the notifications and
    their templates.
    """

    def __init__(
        self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.commands: LazyCommands = LazyCommands(self.commands, lazy_commands or {})

    def load_all(self) -> None:
        """Import every lazy command (before plugins add theirs, which may look at them)."""
        self.commands.load_all()

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        refuse_undecodable(args)
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return one_line_errors(super().invoke)(ctx)


# -- arguments ----------------------------------------------------------------------------------

#: The largest integer the database holds (SQLite's integers are signed 64-bit): the bound of
#: ids and limits.
MAX_INTEGER = 2**63 - 1


def _parameter_name(param: click.Parameter | None) -> str:
    if param is None:
        return "value"
    if isinstance(param, click.Option):
        return "/".join(param.opts)
    return param.human_readable_name


class _OneLineFailure:
    """Makes a parameter type's failures one-line errors (exit 2) naming the parameter."""

    def fail(
        self, message: str, param: click.Parameter | None = None, ctx: click.Context | None = None
    ) -> NoReturn:
        raise BadArgument(f"{_parameter_name(param)}: {one_line(message)}")


class IntegerRange(_OneLineFailure, click.IntRange):
    """An integer from ``min`` to ``max`` (at most :data:`MAX_INTEGER`); any other value is a
    one-line error (exit 2) that names the option and the range."""

    name = "integer"

    def __init__(self, minimum: int | None = None, maximum: int = MAX_INTEGER) -> None:
        super().__init__(min=minimum, max=maximum)


class SecondsRange(_OneLineFailure, click.FloatRange):
    """A number of seconds from ``min`` to ``max``; NaN, an infinity or any other value out of
    the range is a one-line error (exit 2) that names the option and the range."""

    name = "number"

    def __init__(self, minimum: float, maximum: float) -> None:
        super().__init__(min=minimum, max=maximum)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail(f"{value!r} is not a number", param, ctx)
        return seconds


def moment_ago_option(text: str, option: str, now: float | None = None) -> float:
    """The moment the duration ``text`` before now; a one-line error (exit 2) otherwise."""
    try:
        return moment_ago(text, time.time() if now is None else now)
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


#: How ``--json`` writes the floats that JSON cannot hold (a flow called with ``float("nan")``).
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def strict_json(value: Any) -> Any:
    """``value`` with every NaN and infinity, at any depth, as the strings ``"NaN"``,
    ``"Infinity"`` and ``"-Infinity"``: what strict JSON parsers accept, and what ``float()``
    reads back."""
    if isinstance(value, float):
        return value if math.isfinite(value) else NON_FINITE[repr(value)]
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def echo_json(value: Any) -> None:
    """Print ``value`` as strict JSON (RFC 8259): see :func:`strict_json`."""
    click.echo(json.dumps(strict_json(value), indent=2, allow_nan=False))


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
    """Free the claims of delivering processes that died, then deliver the due notifications,
    and retries that come due within ``within`` seconds.

    Claims carry ``command@host/pid/start``, so that a reaper on this host frees them at once
    if this process dies mid-send (see :func:`~flowhook.store.local_worker_id`).
    """
    from .._runtime.attach import load_block_notifier  # the engine's, the notifications'
    from .._runtime.reaper import release_dead_claims
    from ..notifications import deliver_within

    settings = command_settings()
    release_dead_claims(store, time.time(), settings.crash_after_seconds)
    return deliver_within(store, load_block_notifier, local_worker_id(command), within)
