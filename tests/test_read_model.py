"""The read model (flowhook.views) on a real store of real runs: filters the store cannot apply
are applied while reading its pages, pages follow one another without gaps, and each mistake
is one error that names the filter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import flowhook._runtime.attach
from flowhook import flow, task
from flowhook.store import RunRecord, Store, load_settings, open_store
from flowhook.views import (
    AmbiguousRun,
    BadQuery,
    CannotCancel,
    NoSuchRun,
    RunFilters,
    find_run,
    list_runs,
    request_cancel,
    run_detail,
    run_duration,
)
from flowhook_hookspec.run_ids import short_run_id


@pytest.fixture
def store(flowhook_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """Eight flow runs, newest first: run-7 ... run-0, each with a task run; the even ones
    tagged "even", the multiples of three failed; and a task run called outside any flow."""

    @task
    def lone() -> int:
        return 1

    @flow(flow_run_name="run-{i}")
    def numbered(i: int) -> None:
        lone()
        if i % 3 == 0:
            raise ValueError(f"{i} is a multiple of three")

    for i in range(8):
        tagged = numbered.with_options(tags=["even"] if i % 2 == 0 else [])
        tagged(i, return_state=True)
    lone()
    flowhook._runtime.attach.detach()
    # A page of the store's listing holds two runs: the filters must read on, page after page.
    monkeypatch.setattr("flowhook.views.query._SCAN_PAGE", 2)
    opened = open_store()
    yield opened
    opened.close()


def names(runs: list[RunRecord]) -> list[str]:
    return [run.name for run in runs]


def test_tags_are_matched_across_the_stores_pages_and_pages_follow_on(store: Store) -> None:
    first = list_runs(store, RunFilters(tags=("even",), limit=3))
    assert names(first.runs) == ["run-6", "run-4", "run-2"]
    assert first.cursor is not None
    second = list_runs(store, RunFilters(tags=("even",), limit=3, before=first.cursor))
    assert names(second.runs) == ["run-0"] and second.cursor is None


def test_any_of_several_states_and_every_tag(store: Store) -> None:
    failed = names(list_runs(store, RunFilters(states=("failed",))).runs)
    assert failed == ["run-6", "run-3", "run-0"]
    either = list_runs(store, RunFilters(states=("FAILED,completed",), limit=20)).runs
    assert len(either) == 9  # the eight flow runs and the task run
    assert names(list_runs(store, RunFilters(states=("failed",), tags=("even",))).runs) == [
        "run-6",
        "run-0",
    ]
    assert list_runs(store, RunFilters(tags=("even", "odd"))).runs == []


@pytest.mark.parametrize(
    ("given", "field", "words"),
    [
        ({"since": "yesterday"}, "since", "neither a duration (e.g. 2h, 7d) nor a date"),
        ({"until": "99999999d"}, "until", "reaches back before 1970-01-01"),
        ({"before": "page-2"}, "before", "is not a page cursor"),
    ],
)
def test_a_filter_that_cannot_be_read_names_itself(
    given: dict[str, str], field: str, words: str
) -> None:
    with pytest.raises(BadQuery) as caught:
        RunFilters(**given)
    assert caught.value.field == field and words in str(caught.value)
    assert str(caught.value).startswith(f"{field}: ")


def test_a_run_is_found_by_a_unique_prefix_and_mistakes_are_named(store: Store) -> None:
    [run] = [r for r in list_runs(store, RunFilters()).runs if r.name == "run-5"]
    assert find_run(store, short_run_id(run.id).upper()) == run
    assert find_run(store, run.id) == run
    with pytest.raises(BadQuery, match="is not a run id"):
        find_run(store, "run-5")
    with pytest.raises(NoSuchRun, match="no run has an id starting with 'fffffffffff'"):
        find_run(store, "fffffffffff")
    top = list_runs(store, RunFilters(limit=20)).runs
    ids = [r.id for r in top] + [
        t.id for r in top if r.kind == "flow" for t in store.task_run_page(r.id, limit=1000)
    ]
    assert len(ids) == 17  # more than the 16 hex digits: two ids start alike
    digits = [i[0] for i in ids]
    shared = next(d for d in digits if digits.count(d) > 1)
    with pytest.raises(AmbiguousRun, match=f"the id '{shared}' is ambiguous: it starts"):
        find_run(store, shared)


def test_a_failed_runs_detail_and_a_task_runs_cancel(store: Store) -> None:
    [run] = [r for r in list_runs(store, RunFilters()).runs if r.name == "run-3"]
    detail = run_detail(store, run)
    assert [event.name for event in detail.events] == ["Pending", "Running", "Failed"]
    [failure] = detail.failures
    assert (failure.type, failure.message) == ("ValueError", "3 is a multiple of three")
    assert run_duration(run, detail.now).endswith("s") and "+" not in run_duration(run, 0)
    with pytest.raises(CannotCancel, match=r"is already Failed; there is nothing to cancel"):
        request_cancel(store, run, "stop", load_settings())
    [lone] = [r for r in list_runs(store, RunFilters()).runs if r.kind == "task"]
    with pytest.raises(CannotCancel, match="is a task run outside any flow"):
        request_cancel(store, lone, "stop", load_settings())
