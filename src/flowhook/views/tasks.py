"""One page of a flow run's task runs: which to show (:class:`TaskQuery`), and the page with
the counts of all of them by state and the cursors of the pages around it (:class:`TaskPage`).

A flow run may have a million task runs: the run page, its JSON and ``flowhook runs show``
read their counts (one aggregate of an index) and one page of them (one indexed query per
state type asked for), never all of them.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from flowhook.store import RunRecord, Store
from flowhook_hookspec.states import StateType

from .query import BadQuery, parse_cursor, words

__all__ = [
    "MAX_TASKS_SHOWN",
    "TASKS_SHOWN",
    "TaskPage",
    "TaskQuery",
    "cursor_of",
    "task_counts",
    "task_page",
]

#: The task runs a page shows unless asked for another number.
TASKS_SHOWN = 100
#: The most task runs one page shows.
MAX_TASKS_SHOWN = 1000
_STATE_TYPES = [state.value for state in StateType]


def _state_types(values: Iterable[str]) -> tuple[str, ...]:
    """The state types named (comma-separated, any case), checked, in a stable order."""
    asked = {word.upper() for word in words(values)}
    unknown = sorted(asked.difference(_STATE_TYPES))
    if unknown:
        raise BadQuery(
            f"{unknown[0].lower()!r} is not a state type: use one of "
            f"{', '.join(state.lower() for state in _STATE_TYPES)}",
            "state",
        )
    return tuple(state for state in _STATE_TYPES if state in asked)


def _limit(value: int) -> int:
    if not 1 <= value <= MAX_TASKS_SHOWN:
        raise BadQuery(f"{value} is not a number from 1 to {MAX_TASKS_SHOWN}", "limit")
    return value


@attrs.frozen
class TaskQuery:
    """Which of a flow run's task runs a page shows: those of ``states`` (state types, any
    case, comma-separated; all when empty), ``limit`` of them, from the first, or right after
    the cursor ``after`` or right before ``before`` (see :attr:`TaskPage.next_cursor`)."""

    states: tuple[str, ...] = attrs.field(default=(), converter=_state_types)
    after: str | None = None
    before: str | None = None
    limit: int = attrs.field(default=TASKS_SHOWN, converter=_limit)

    def __attrs_post_init__(self) -> None:
        if self.after is not None and self.before is not None:
            raise BadQuery("give either after or before, not both", "after")
        parse_cursor(self.after, "after")
        parse_cursor(self.before, "before")

    @property
    def first(self) -> bool:
        """Whether this asks for the first page."""
        return self.after is None and self.before is None


@attrs.frozen
class TaskPage:
    """One page of a flow run's task runs, in the order they were created."""

    runs: list[RunRecord]
    query: TaskQuery
    #: How many task runs the flow run has in each state type, in the order of StateType.
    counts: list[tuple[str, int]]
    #: The cursor of the next page (None on the last) and of the previous (None on the first).
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def total(self) -> int:
        """How many task runs the flow run has."""
        return sum(count for _, count in self.counts)

    @property
    def matching(self) -> int:
        """How many task runs the page's states select (all when no state is asked for)."""
        wanted = self.query.states
        return sum(count for state, count in self.counts if not wanted or state in wanted)


def cursor_of(run: RunRecord) -> str:
    """The cursor of a task run: where a page after (or before) it starts."""
    return f"{run.created!r}_{run.id}"


def task_counts(store: Store, flow_run_id: str) -> list[tuple[str, int]]:
    """How many task runs ``flow_run_id`` has in each state type, in the order of StateType
    (state types without any left out)."""
    counts = store.task_state_counts(flow_run_id)
    return [(state, counts[state]) for state in _STATE_TYPES if counts.get(state)]


def task_page(store: Store, flow_run_id: str, query: TaskQuery) -> TaskPage:
    """The page of ``flow_run_id``'s task runs that ``query`` asks for, with the counts."""
    counts = task_counts(store, flow_run_id)
    after, before = parse_cursor(query.after, "after"), parse_cursor(query.before, "before")
    runs = store.task_run_page(
        flow_run_id,
        state_types=query.states,
        after=after,
        before=before,
        limit=query.limit + 1,  # one more tells whether there is a page beyond
    )
    more = len(runs) > query.limit
    if before is not None:
        runs = runs[1:] if more else runs
        following, preceding = runs[-1:] or None, runs[:1] if more else None
    else:
        runs = runs[: query.limit]
        following, preceding = runs[-1:] if more else None, None if query.first else runs[:1]
    return TaskPage(
        runs=runs,
        query=query,
        counts=counts,
        next_cursor=cursor_of(following[0]) if following else None,
        previous_cursor=cursor_of(preceding[0]) if preceding else None,
    )
