"""Errors as one line: every error a user can cause is one line on stderr, never a traceback.

An unknown or ambiguous id, a bad duration, a number out of range, an argument that is not
text, an unreadable or damaged database: each is one line and exit status 1 (or 2 for a
malformed argument). :func:`one_line_errors` turns whatever a command raises into that line.
"""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from flowhook_hookspec.errors import ConfigError, FlowhookError

from ..store import StoreError, load_settings

__all__ = ["BadArgument", "OneLineError", "one_line", "one_line_errors", "refuse_undecodable"]

F = TypeVar("F", bound=Callable[..., Any])


class BadArgument(click.ClickException):
    """A malformed argument: one line, exit status 2."""

    exit_code = 2


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
