"""Run ids are time-ordered (version 7) UUIDs: unique, and sorting by when they were made."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid

import flowhook
from flowhook._engine.ids import new_run_id
from flowhook_hookspec.run_ids import short_run_id


def _milliseconds(run_id: uuid.UUID) -> int:
    return run_id.int >> 80


def test_run_ids_are_rfc_version_7_uuids_that_round_trip() -> None:
    before = time.time_ns() // 1_000_000
    run_id = new_run_id()
    after = time.time_ns() // 1_000_000
    assert run_id.version == 7
    assert run_id.variant == uuid.RFC_4122
    assert before <= _milliseconds(run_id) <= after
    assert uuid.UUID(str(run_id)) == run_id
    assert hash(uuid.UUID(str(run_id))) == hash(run_id)
    assert run_id.is_safe is uuid.SafeUUID.unknown


def test_ids_made_one_after_another_increase_as_uuids_and_as_text() -> None:
    ids = [new_run_id() for _ in range(10_000)]
    timestamps = [_milliseconds(run_id) for run_id in ids]
    assert timestamps == sorted(timestamps)
    # Within a millisecond the next 12 bits are its fraction: ids of one thread still increase.
    assert ids == sorted(ids)
    assert [str(run_id) for run_id in ids] == sorted(str(run_id) for run_id in ids)


def test_100k_ids_made_in_threads_are_unique() -> None:
    made: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(into: list[uuid.UUID]) -> None:
        into.extend(new_run_id() for _ in range(25_000))

    threads = [threading.Thread(target=make, args=(ids,)) for ids in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [run_id for ids in made for run_id in ids]
    assert len(every) == 100_000 == len(set(every))
    for ids in made:  # each thread's ids: their milliseconds never go back
        timestamps = [_milliseconds(run_id) for run_id in ids]
        assert timestamps == sorted(timestamps)


def _hex_ids(count: int) -> list[str]:
    return [new_run_id().hex for _ in range(count)]


def test_100k_ids_made_in_two_processes_at_once_are_unique() -> None:
    # A forked child inherits the parent's random state: the standard library reseeds it.
    with multiprocessing.get_context("fork").Pool(2) as pool:
        halves = pool.map(_hex_ids, [50_000, 50_000])
    assert len(set(halves[0]) | set(halves[1])) == 100_000


def test_a_forked_child_makes_other_ids_than_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, str(new_run_id()).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_id = os.read(read, 100).decode()
    os.close(read)
    assert child_id != str(new_run_id())


def test_flow_and_task_runs_get_version_7_ids_that_sort_after_earlier_runs() -> None:
    @flowhook.task
    def step() -> uuid.UUID:
        return flowhook.get_run_context().task_run.id

    @flowhook.flow
    def pipeline() -> tuple[uuid.UUID, uuid.UUID]:
        return flowhook.get_run_context().flow_run.id, step()

    first_flow_run, first_task_run = pipeline()
    second_flow_run, second_task_run = pipeline()
    assert {first_flow_run.version, second_task_run.version} == {7}
    assert first_flow_run < first_task_run < second_flow_run < second_task_run
    assert str(first_task_run) < str(second_flow_run)


def test_short_ids_tell_apart_runs_made_one_after_another() -> None:
    ids = [new_run_id() for _ in range(10_000)]
    shown = [short_run_id(run_id) for run_id in ids]
    assert len(set(shown)) == len(ids)
    assert all(str(run_id).startswith(short) for run_id, short in zip(ids, shown, strict=True))
    assert len(shown[0]) == 18  # 0193a2b4-5c6d-7e8f: to the 4096th of a millisecond


def test_a_random_id_recorded_before_is_shown_by_its_first_8_digits() -> None:
    old = uuid.UUID("5e93579c-0b8a-4c4e-9f1e-6d2b8f0a7c31")
    assert short_run_id(old) == short_run_id(str(old)) == "5e93579c"


def test_seeding_pythons_random_does_not_repeat_run_ids() -> None:
    """Two processes that seed :mod:`random` alike (a reproducible job) still draw their own
    ids: the random bits come from flowhook's generator, not the global one."""
    import random

    random_bits = (1 << 62) - 1
    random.seed(7)
    first = new_run_id().int & random_bits
    random.seed(7)
    second = new_run_id().int & random_bits
    assert first != second
