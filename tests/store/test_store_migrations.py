"""``FLOWHOOK_STORE_AUTO_MIGRATE``: who applies schema migrations, on both stores.

The older databases are real ones: the migrations of this flowhook up to the one before the
last, applied to a SQLite file or to a new PostgreSQL database, as an older flowhook left them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import flowhook._runtime.attach
from flowhook import ConfigError, flow
from flowhook.cli import cli
from flowhook.store import SCHEMA_VERSION, RunQuery, load_settings, open_store
from flowhook.store._sqlite.dialect import SQLITE

OLDER = SCHEMA_VERSION - 1


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def make_older_schema(version: int) -> None:
    """The store of the environment at schema ``version``, as an older flowhook made it."""
    settings = load_settings()
    if settings.url is None:
        conn = sqlite3.connect(settings.database)
        for migration in SQLITE.migrations[:version]:
            for statement in migration:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
        conn.close()
        return
    import psycopg

    from flowhook.store._postgres.connection import VERSION_TABLE
    from flowhook.store._postgres.dialect import POSTGRES

    with psycopg.connect(settings.url, autocommit=True) as pg, pg.transaction():
        for migration in POSTGRES.migrations[:version]:
            for statement in migration:
                pg.execute(statement)
        pg.execute(f"CREATE TABLE {VERSION_TABLE} (version INTEGER NOT NULL)")
        pg.execute(f"INSERT INTO {VERSION_TABLE} VALUES ({version})")


def raw_version() -> int:
    """The schema version as the database says, read without flowhook's store."""
    settings = load_settings()
    if settings.url is None:
        with sqlite3.connect(settings.database) as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
    import psycopg

    with psycopg.connect(settings.url) as pg:
        found = pg.execute("SELECT to_regclass('flowhook_schema') IS NOT NULL").fetchone()
        if not found or not found[0]:
            return 0
        row = pg.execute("SELECT max(version) FROM flowhook_schema").fetchone()
        return int(row[0]) if row else 0


@pytest.fixture
def no_auto_migrate(monkeypatch: pytest.MonkeyPatch) -> str:
    """``FLOWHOOK_STORE_AUTO_MIGRATE=0``; the store's location, as messages name it."""
    monkeypatch.setenv("FLOWHOOK_STORE_AUTO_MIGRATE", "0")
    return load_settings().location


def test_an_older_schema_is_refused_in_one_line_until_store_migrate(
    flowhook_home: Path, no_auto_migrate: str, caplog: pytest.LogCaptureFixture
) -> None:
    make_older_schema(OLDER)
    line = (
        f"the flowhook database {no_auto_migrate} has schema version {OLDER}; this flowhook "
        f"needs version {SCHEMA_VERSION}. Run `flowhook store migrate` (or set "
        "FLOWHOOK_STORE_AUTO_MIGRATE=1)"
    )
    with pytest.raises(ConfigError) as refused:
        open_store()
    assert str(refused.value) == line
    assert flow(lambda: 3)() == 3  # the run goes on, unrecorded, and says why
    assert line in caplog.text
    flowhook._runtime.attach.detach()
    listed = run("runs", "ls")
    assert (listed.exit_code, listed.output) == (1, f"Error: {line}\n")
    assert raw_version() == OLDER  # nobody upgraded it
    migrated = run("store", "migrate")
    assert migrated.output == (
        f"Migrated {no_auto_migrate} from schema version {OLDER} to {SCHEMA_VERSION}.\n"
    )
    assert raw_version() == SCHEMA_VERSION
    assert flow(lambda: 4)() == 4
    flowhook._runtime.attach.detach()
    store = open_store()
    try:
        assert [r.state_name for r in store.list_flow_runs(RunQuery())] == ["Completed"]
    finally:
        store.close()


def test_a_new_database_is_refused_alike_and_created_by_store_migrate(
    flowhook_home: Path, no_auto_migrate: str, store_backend: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        open_store()
    assert str(refused.value) == (
        f"the flowhook database {no_auto_migrate} has no flowhook schema yet; this flowhook "
        f"needs version {SCHEMA_VERSION}. Run `flowhook store migrate` (or set "
        "FLOWHOOK_STORE_AUTO_MIGRATE=1)"
    )
    if store_backend == "sqlite":
        assert not os.path.exists(no_auto_migrate)  # not even an empty file
    assert run("runs", "ls").output == "No flow runs recorded yet.\n"
    migrated = run("store", "migrate")
    assert (
        migrated.output
        == f"Migrated {no_auto_migrate} from schema version 0 to {SCHEMA_VERSION}.\n"
    )
    assert "nothing to do" in run("store", "migrate").output
    open_store().close()


@pytest.mark.sqlite_only
def test_sqlite_upgrades_an_older_file_itself_by_default(flowhook_home: Path) -> None:
    make_older_schema(OLDER)
    assert flow(lambda: 5)() == 5
    flowhook._runtime.attach.detach()
    assert raw_version() == SCHEMA_VERSION


def run_raw(*statements: str) -> None:
    """Run ``statements`` on the store of the environment as they are, without flowhook."""
    settings = load_settings()
    if settings.url is None:
        with sqlite3.connect(settings.database) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    import psycopg

    with psycopg.connect(settings.url, autocommit=True) as pg, pg.transaction():
        for statement in statements:
            pg.execute(statement)


def test_migrating_from_version_8_files_each_message_under_its_flow_run(
    flowhook_home: Path, no_auto_migrate: str
) -> None:
    flow_id, task_id, lone_id, gone_id = (str(uuid.uuid4()) for _ in range(4))
    make_older_schema(8)
    message = (
        "INSERT INTO notification_outbox (block_type, block_name, run_kind, run_id, subject, "
        "body, next_attempt, created, idempotency_key) VALUES "
        "('log', 'ops', '{kind}', '{run_id}', '{subject}', 'b', 1, 1, '{subject}')"
    )
    run_raw(
        f"INSERT INTO flow_runs (id, name, flow_name, created) VALUES ('{flow_id}', 'etl-1', "
        "'etl', 1)",
        "INSERT INTO task_runs (id, flow_run_id, name, task_name, created) VALUES "
        f"('{task_id}', '{flow_id}', 'step-1', 'step', 1), ('{lone_id}', NULL, 'lone-1', "
        "'lone', 1)",
        message.format(kind="flow", run_id=flow_id, subject="flow failed"),
        message.format(kind="task", run_id=task_id, subject="step failed"),
        message.format(kind="task", run_id=lone_id, subject="lone failed"),
        message.format(kind="task", run_id=gone_id, subject="pruned task failed"),
    )
    assert f"from schema version 8 to {SCHEMA_VERSION}" in run("store", "migrate").output

    store = open_store()
    try:
        filed = store.list_outbox(flow_run_id=flow_id)
    finally:
        store.close()
    assert [m.subject for m in filed] == ["step failed", "flow failed"]
    shown = run("runs", "show", flow_id[:8], "--json")
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.output)
    assert [m["subject"] for m in detail["notifications"]] == ["step failed", "flow failed"]
    assert detail["notifications_total"] == 2


def test_migrating_from_version_10_still_finds_runs_by_the_start_of_their_id(
    flowhook_home: Path, no_auto_migrate: str
) -> None:
    """Version 11 orders the runs' ids byte by byte (PostgreSQL's primary keys)."""
    flow_id = "0190aaaa-0000-7000-8000-000000000001"
    task_ids = ["0190aaaa-0000-7000-8000-000000000002", "0190aaab-0000-7000-8000-000000000003"]
    make_older_schema(10)
    run_raw(
        f"INSERT INTO flow_runs (id, name, flow_name, created) VALUES ('{flow_id}', 'etl-1', "
        "'etl', 1)",
        "INSERT INTO task_runs (id, flow_run_id, name, task_name, created) VALUES "
        f"('{task_ids[0]}', '{flow_id}', 'step-1', 'step', 1), "
        f"('{task_ids[1]}', '{flow_id}', 'step-2', 'step', 2)",
    )
    assert f"from schema version 10 to {SCHEMA_VERSION}" in run("store", "migrate").output
    assert raw_version() == SCHEMA_VERSION
    shown = run("runs", "show", "0190aaab", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["run"]["id"] == task_ids[1]
    ambiguous = run("runs", "show", "0190aaaa")
    assert ambiguous.exit_code != 0
    assert "the id '0190aaaa' is ambiguous: it starts 2 runs" in ambiguous.output


def test_migrating_from_version_11_counts_the_task_runs_already_there(
    flowhook_home: Path, no_auto_migrate: str
) -> None:
    """Version 12 keeps each flow run's count of task runs (PostgreSQL): those written before
    it are counted by the migration, those after as they are inserted."""
    flow_id = "0190bbbb-0000-7000-8000-000000000001"
    make_older_schema(11)
    run_raw(
        f"INSERT INTO flow_runs (id, name, flow_name, created) VALUES ('{flow_id}', 'etl-1', "
        "'etl', 1)",
        "INSERT INTO task_runs (id, flow_run_id, name, task_name, created, state_type, "
        "process_id) VALUES "
        f"('0190bbbb-0000-7000-8000-000000000002', '{flow_id}', 'step-1', 'step', 1, "
        "'COMPLETED', 1), "
        f"('0190bbbb-0000-7000-8000-000000000003', '{flow_id}', 'step-2', 'step', 2, "
        "'FAILED', NULL), "
        f"('0190bbbb-0000-7000-8000-000000000004', '{flow_id}', 'step-3', 'step', 3, "
        "'COMPLETED', 2)",
    )
    assert f"from schema version 11 to {SCHEMA_VERSION}" in run("store", "migrate").output
    run_raw(
        "INSERT INTO task_runs (id, flow_run_id, name, task_name, created, state_type) VALUES "
        f"('0190bbbb-0000-7000-8000-000000000005', '{flow_id}', 'step-4', 'step', 4, 'COMPLETED')"
    )
    store = open_store()
    try:
        counts = store.task_state_counts(flow_id)
    finally:
        store.close()
    assert {state: n for state, n in counts.items() if n} == {"COMPLETED": 3, "FAILED": 1}
