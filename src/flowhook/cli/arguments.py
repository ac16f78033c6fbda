"""The types of the commands' arguments: bounded numbers, ages, run ids, run filters; a bad
value is a one-line error (exit 2) that names the option."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from ..store import RunRecord, Store
from ..views import BadQuery, RunFilters, find_run, moment_ago
from .errors import BadArgument, one_line

if TYPE_CHECKING:
    from ..views import TaskQuery

__all__ = [
    "MAX_INTEGER",
    "IntegerRange",
    "SecondsRange",
    "moment_ago_option",
    "resolve_run",
    "run_filters",
    "task_query",
]

T = TypeVar("T")


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
    """The run whose id is ``text`` or starts with it (see :func:`flowhook.views.find_run`); a
    malformed id is a one-line error with exit status 2, an unknown or ambiguous one exit 1."""
    try:
        return find_run(store, text)
    except BadQuery as exc:
        raise BadArgument(str(exc)) from None
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None


def _as_options(make: Callable[..., T], **given: Any) -> T:
    """``make(**given)``; its :class:`~flowhook.views.BadQuery` as a one-line error (exit 2)
    that names the option, e.g. ``--since``."""
    try:
        return make(**given)
    except BadQuery as exc:
        raise BadArgument(f"--{exc.field}: {exc.reason}" if exc.field else exc.reason) from None


def run_filters(**given: Any) -> RunFilters:
    """The run list's filters (see :class:`flowhook.views.RunFilters`); a bad one is a one-line
    error (exit 2) that names its option, e.g. ``--since``."""
    return _as_options(RunFilters, **given)


def task_query(**given: Any) -> TaskQuery:
    """Which task runs ``flowhook runs show`` prints (see :class:`flowhook.views.TaskQuery`);
    a bad option is a one-line error (exit 2) that names it."""
    from ..views import TaskQuery  # a page of task runs: not for the run list

    return _as_options(TaskQuery, **given)
