"""Which runs to show: the run list's filters, and a run found by its id or a prefix of it.

Both the ``flowhook runs`` commands and the web UI read runs through these two functions, so
that the same words find the same runs in both; their errors are one line, for a person.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator

import attrs

from flowhook.store import RunQuery, RunRecord, Store

from .text import parse_since

__all__ = [
    "AmbiguousRun",
    "BadQuery",
    "NoSuchRun",
    "RunFilters",
    "RunPage",
    "find_run",
    "list_runs",
    "parse_cursor",
    "words",
]

_ID = re.compile(r"[0-9a-f-]{1,36}")
#: How many runs one store read fetches while a filter the store does not know (tags, several
#: states) drops some.
_SCAN_PAGE = 200


class BadQuery(ValueError):
    """A filter or id that cannot be read: ``field`` names it (None for an id) and ``reason``
    says what would do; a front end names the field its own way (``--since``, ``since``)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason, field)
        self.reason = reason
        self.field = field

    def __str__(self) -> str:
        return self.reason if self.field is None else f"{self.field}: {self.reason}"


class NoSuchRun(LookupError):
    """No run has the id (or an id starting with the prefix) asked for."""


class AmbiguousRun(LookupError):
    """A prefix that starts the ids of several runs."""


def words(values: Iterable[str]) -> tuple[str, ...]:
    """Each value split at commas, blanks dropped: ``("failed,crashed",)`` and
    ``("failed", "crashed")`` mean the same."""
    return tuple(word.strip() for value in values for word in value.split(",") if word.strip())


def _moment(text: str | None, name: str, now: float) -> float | None:
    if text is None:
        return None
    try:
        return parse_since(text, now)
    except ValueError as exc:
        raise BadQuery(str(exc), name) from None


def parse_cursor(text: str | None, field: str = "before") -> tuple[float, str] | None:
    """The ``(created, id)`` of a page cursor (``<created>_<id>``); :class:`BadQuery` names
    ``field`` when it is not one."""
    if text is None:
        return None
    created, _, run_id = text.partition("_")
    try:
        return float(created), run_id
    except ValueError:
        raise BadQuery(f"{text!r} is not a page cursor: follow the page's links", field) from None


@attrs.frozen
class RunFilters:
    """The run list's filters, as a person gives them (``since="2h"``), checked on creation.

    ``states`` and ``tags`` may hold comma-separated words; a run matches any of the states
    (a type or a name, any case) and carries every tag. ``since`` and ``until`` are a duration
    before now (``2h``, ``7d``) or a date or time (``2026-11-24``, ``2026-11-24T08:00``).
    ``before`` is the cursor of a page (see :attr:`RunPage.cursor`).
    """

    flow: str | None = None
    states: tuple[str, ...] = attrs.field(default=(), converter=words)
    since: str | None = None
    until: str | None = None
    tags: tuple[str, ...] = attrs.field(default=(), converter=words)
    before: str | None = None
    limit: int = 50

    def __attrs_post_init__(self) -> None:
        self.query(time.time())  # fail early, with the message, on a bad value

    @property
    def filtered(self) -> bool:
        """Whether any filter but the page's narrows the list."""
        return bool(self.flow or self.states or self.since or self.until or self.tags)

    def query(self, now: float, limit: int | None = None) -> RunQuery:
        """The store's query for these filters (with the one state, when there is one)."""
        return RunQuery(
            flow_name=self.flow,
            state=self.states[0] if len(self.states) == 1 else None,
            since=_moment(self.since, "since", now),
            until=_moment(self.until, "until", now),
            before=parse_cursor(self.before),
            limit=self.limit if limit is None else limit,
        )

    def matches(self, run: RunRecord) -> bool:
        """Whether ``run`` passes the filters the store does not apply: tags, several states."""
        if len(self.states) > 1:
            wanted = {state.upper() for state in self.states}
            if run.state_type.upper() not in wanted and run.state_name.upper() not in wanted:
                return False
        return all(tag in run.tags for tag in self.tags)


@attrs.frozen
class RunPage:
    """One page of the run list, newest first, and the cursor of the next (None on the last)."""

    runs: list[RunRecord]
    cursor: str | None


def _scan(store: Store, query: RunQuery) -> Iterator[RunRecord]:
    """Every run of ``query``, newest first, read page by page."""
    while True:
        found = store.list_flow_runs(query)
        yield from found
        if len(found) < query.limit:
            return
        last = found[-1]
        query = attrs.evolve(query, before=(last.created, last.id))


def list_runs(store: Store | None, filters: RunFilters, now: float | None = None) -> RunPage:
    """The flow runs, and task runs called outside any flow, that pass ``filters``: one page."""
    if store is None:
        return RunPage([], None)
    now = time.time() if now is None else now
    wanted = filters.limit + 1  # one more tells whether there is a next page
    if len(filters.states) > 1 or filters.tags:
        scan = _scan(store, filters.query(now, limit=max(_SCAN_PAGE, wanted)))
        runs = []
        for run in scan:
            if filters.matches(run):
                runs.append(run)
                if len(runs) == wanted:
                    break
    else:
        runs = store.list_flow_runs(filters.query(now, limit=wanted))
    if len(runs) <= filters.limit:
        return RunPage(runs, None)
    last = runs[filters.limit - 1]
    return RunPage(runs[: filters.limit], f"{last.created!r}_{last.id}")


def find_run(store: Store | None, text: str) -> RunRecord:
    """The run whose id is ``text`` or starts with it (flow runs first, then task runs).

    Raises :class:`BadQuery` when ``text`` cannot be an id, :class:`NoSuchRun` when no id
    starts with it and :class:`AmbiguousRun` when several do.
    """
    prefix = text.strip().lower()
    if not _ID.fullmatch(prefix):
        raise BadQuery(f"{text!r} is not a run id: ids are hex digits, e.g. 3f2a1b9c")
    matches = [] if store is None else store.find_runs(prefix)
    exact = [run for run in matches if run.id == prefix]
    if exact:
        return exact[0]
    if not matches:
        raise NoSuchRun(f"no run has an id starting with {text!r}")
    if len(matches) > 1:
        shown = ", ".join(f"{run.id} ({run.kind} {run.name!r})" for run in matches[:4])
        raise AmbiguousRun(
            f"the id {text!r} is ambiguous: it starts {len(matches)} runs ({shown}"
            f"{', ...' if len(matches) > 4 else ''}); give more of it"
        )
    return matches[0]
