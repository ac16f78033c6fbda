"""Run ids are random version 4 UUIDs."""

from __future__ import annotations

import os
import uuid

import flowhook
from flowhook._engine.ids import new_run_id


def test_run_ids_are_rfc_version_4_uuids_that_round_trip() -> None:
    run_id = new_run_id()
    assert run_id.version == 4
    assert run_id.variant == uuid.RFC_4122
    assert uuid.UUID(str(run_id)) == run_id
    assert hash(uuid.UUID(str(run_id))) == hash(run_id)
    assert run_id.is_safe is uuid.SafeUUID.unknown


def test_run_ids_are_unique_and_their_short_prefixes_spread() -> None:
    ids = [new_run_id() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    # The command line shows the first 8 hex digits: they must tell runs apart.
    assert len({str(run_id)[:8] for run_id in ids[:1000]}) == 1000


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


def test_flow_and_task_runs_get_version_4_ids() -> None:
    @flowhook.task
    def step() -> uuid.UUID:
        return flowhook.get_run_context().task_run.id

    @flowhook.flow
    def pipeline() -> tuple[uuid.UUID, uuid.UUID]:
        return flowhook.get_run_context().flow_run.id, step()

    flow_run_id, task_run_id = pipeline()
    assert flow_run_id.version == task_run_id.version == 4
    assert flow_run_id != task_run_id
