"""Sharing one PostgreSQL store between processes and hosts: what the SQLite tests cannot show.

Each test gets a new database on the session's real server (``FLOWHOOK_STORE_URL``). Processes
on "other hosts" are rows with another host name: the server cannot tell them apart from real
ones, and their liveness is decided by heartbeat alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from postgres_server import PASSWORD, PostgresServer
from store_helpers import (
    environment,
    execute,
    fake_flow_run,
    fake_process,
    fill_history,
    flowhook_cli,
    wait_for,
)

import flowhook
import flowhook._runtime.attach
from flowhook import flow, task
from flowhook._runtime.reaper import reap
from flowhook.cli import cli
from flowhook.store import SCHEMA_VERSION, OutboxEntry, RunQuery, Store, open_store

pytestmark = pytest.mark.postgres_only


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_eight_reapers_crash_200_stale_runs_exactly_once(store: Store) -> None:
    stale = time.time() - 3600
    processes = [
        fake_process(store, pid=1000 + n, host=f"host-{n}", last_heartbeat=stale) for n in range(20)
    ]
    expected = sorted(
        fake_flow_run(store, processes[n % 20], with_task=False)[0] for n in range(200)
    )
    results: list[list[str]] = []
    barrier = threading.Barrier(8)

    def one_reaper() -> None:
        own = open_store()  # a pool of its own, as another host has
        try:
            barrier.wait()
            results.append([item.run.id for item in reap(own)])
        finally:
            own.close()

    threads = [threading.Thread(target=one_reaper) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    crashed = [run_id for result in results for run_id in result]
    assert len(results) == 8
    assert sorted(crashed) == expected  # 0 double-crashes, none missed
    rows = execute(
        store,
        "SELECT run_id, count(*) FROM state_events WHERE name = 'Crashed' GROUP BY run_id",
    )
    assert sorted(rows) == [(run_id, 1) for run_id in expected]


def test_two_senders_claim_each_message_once(store: Store) -> None:
    now = time.time()
    store.enqueue_outbox(
        OutboxEntry(uuid.uuid4().hex, "slack", "team", None, "flow", "r", "Failed", "s", "b", now)
        for _ in range(300)
    )
    sent: dict[str, list[int]] = {"a": [], "b": []}

    def sender(worker: str) -> None:
        own = open_store()
        try:
            while claimed := own.claim_outbox(worker, time.time(), 7, 60.0):
                for message in claimed:
                    own.mark_outbox_sent([message.id], time.time())
                    sent[worker].append(message.id)
        finally:
            own.close()

    threads = [threading.Thread(target=sender, args=(worker,)) for worker in sent]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    everything = sent["a"] + sent["b"]
    assert len(everything) == len(set(everything)) == 300
    assert sent["a"] and sent["b"]  # both worked, neither waited for the other's lock
    assert store.pending_outbox_count() == 0


def test_migrate_explicitly_and_refuse_a_newer_schema(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("FLOWHOOK_STORE_AUTO_MIGRATE")  # the default: off for PostgreSQL
    with pytest.raises(flowhook.ConfigError, match="flowhook store migrate"):
        open_store()
    assert flow(lambda: 3)() == 3  # a run goes on, unrecorded, and says why
    assert "flowhook store migrate" in caplog.text
    flowhook._runtime.attach.detach()
    assert run("runs", "ls").output == "No flow runs recorded yet.\n"  # type: ignore[attr-defined]
    first = run("store", "migrate")
    assert first.output == (  # type: ignore[attr-defined]
        f"Migrated {postgres_url.replace(PASSWORD, '***')} from schema version 0 to {SCHEMA_VERSION}.\n"
    )
    assert "nothing to do" in run("store", "migrate").output  # type: ignore[attr-defined]
    assert flow(lambda: 4)() == 4
    flowhook._runtime.attach.detach()
    store = open_store()
    try:
        assert len(store.list_flow_runs(RunQuery())) == 1
        execute(store, "UPDATE flowhook_schema SET version = 99")
    finally:
        store.close()
    refused = run("runs", "ls")
    assert refused.exit_code == 1  # type: ignore[attr-defined]
    [line] = refused.output.splitlines()  # type: ignore[attr-defined]
    assert "schema version 99, written by a newer flowhook" in line and PASSWORD not in line


def test_a_wrong_password_is_one_line_with_the_password_masked(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-password-42"
    monkeypatch.setenv("FLOWHOOK_STORE_URL", postgres_server.url(password=wrong))
    env = environment(Path("."))
    for args in (("runs", "ls"), ("outbox", "ls"), ("store", "migrate")):
        result = flowhook_cli(*args, env=env)
        assert result.returncode == 1
        [line] = result.stderr.splitlines()
        assert "password authentication failed" in line, line
        assert wrong not in result.stderr + result.stdout and "***" in line
    shown = flowhook_cli("config", env=env)
    assert wrong not in shown.stdout + shown.stderr
    assert f"Store: postgresql://flowhook:***@127.0.0.1:{postgres_server.port}/postgres" in (
        shown.stdout
    )


def _history_json(env_url: str | None, home: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    if env_url is None:
        monkeypatch.delenv("FLOWHOOK_STORE_URL", raising=False)
    else:
        monkeypatch.setenv("FLOWHOOK_STORE_URL", env_url)
    monkeypatch.setenv("FLOWHOOK_HOME", str(home))
    listed = json.loads(run("runs", "ls", "--json").output)  # type: ignore[attr-defined]
    shown = [
        json.loads(run("runs", "show", item["id"], "--json").output)  # type: ignore[attr-defined]
        for item in listed
    ]
    return listed, shown


def test_copy_from_sqlite_to_postgres_and_back(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_home = tmp_path / "first"
    monkeypatch.delenv("FLOWHOOK_STORE_URL", raising=False)
    monkeypatch.setenv("FLOWHOOK_HOME", str(first_home))

    @task
    def step(i: int) -> int:
        if i == 2:
            raise ValueError("two")
        return i

    @flow
    def work(n: int) -> int:
        return sum(step(i) for i in range(n))

    work(2)
    with pytest.raises(ValueError):
        work(3)
    flowhook._runtime.attach.detach()
    before = _history_json(None, first_home, monkeypatch)
    monkeypatch.delenv("FLOWHOOK_STORE_URL", raising=False)
    there = run("store", "copy", "--from", str(first_home / "flowhook.db"), "--to", postgres_url)
    assert there.exit_code == 0, there.output  # type: ignore[attr-defined]
    assert PASSWORD not in there.output  # type: ignore[attr-defined]
    assert "2 flow_runs, 5 task_runs" in there.output  # type: ignore[attr-defined]
    assert _history_json(postgres_url, tmp_path / "unused", monkeypatch) == before
    back_home = tmp_path / "back"
    back = run("store", "copy", "--from", postgres_url, "--to", f"sqlite://{back_home}/flowhook.db")
    assert back.exit_code == 0, back.output  # type: ignore[attr-defined]
    assert _history_json(None, back_home, monkeypatch) == before
    again = run("store", "copy", "--from", postgres_url, "--to", str(back_home))
    assert again.exit_code == 1 and "already holds a history" in again.output  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_server_restart_mid_run_loses_nothing(postgres_server: PostgresServer) -> None:
    @task
    def step(i: int) -> int:
        time.sleep(0.01)
        return i

    @flow
    def through_a_restart() -> int:
        total = sum(step(i) for i in range(20))
        postgres_server.restart()
        return total + sum(step(i) for i in range(20))

    assert through_a_restart() == 2 * sum(range(20))
    flowhook._runtime.attach.detach()
    store = open_store()
    try:
        [flow_run] = store.list_flow_runs(RunQuery())
        assert flow_run.state_name == "Completed"
        tasks = store.task_run_page(flow_run.id, limit=1000)
        assert len(tasks) == 40 and {t.state_name for t in tasks} == {"Completed"}
        assert store.count_events() == 3 + 40 * 3  # type: ignore[attr-defined]
    finally:
        store.close()


def test_the_store_url_in_the_config_file(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOWHOOK_STORE_URL")
    (tmp_path / "flowhook.toml").write_text(f'[store]\nstore_url = "{postgres_url}"\n')
    monkeypatch.chdir(tmp_path)
    assert flow(lambda: 1)() == 1
    flowhook._runtime.attach.detach()
    shown = run("config").output  # type: ignore[attr-defined]
    assert f"Store: {postgres_url.replace(PASSWORD, '***')} (PostgreSQL)" in shown
    assert PASSWORD not in shown
    assert len(json.loads(run("runs", "ls", "--json").output)) == 1  # type: ignore[attr-defined]
    monkeypatch.setenv("FLOWHOOK_STORE_URL", f"mysql://root:{PASSWORD}@db/x")  # the env wins
    refused = run("runs", "ls")
    assert refused.exit_code == 2  # type: ignore[attr-defined]
    assert "FLOWHOOK_STORE_URL takes a PostgreSQL URL" in refused.output  # type: ignore[attr-defined]
    assert PASSWORD not in refused.output  # type: ignore[attr-defined]


def test_text_postgresql_cannot_hold_is_recorded_escaped(store: Store) -> None:
    @flow
    def odd() -> None:
        raise ValueError("a NUL \x00 and a lone surrogate \udcff")

    with pytest.raises(ValueError):
        odd()
    flowhook._runtime.attach.detach()
    [flow_run] = store.list_flow_runs(RunQuery())
    assert flow_run.state_name == "Failed"
    [*_, failed] = store.events(flow_run.id, flow_run.id)
    assert failed.state["exception"]["message"] == "a NUL \\x00 and a lone surrogate \\udcff"


def test_a_late_write_never_overwrites_crashed(store: Store) -> None:
    from flowhook import states
    from flowhook.store import Transition

    process = fake_process(store, pid=1, host="elsewhere", last_heartbeat=time.time() - 3600)
    flow_run_id, _ = fake_flow_run(store, process, with_task=False)
    [reaped] = reap(store)
    assert reaped.run.id == flow_run_id
    late = states.Completed(run_id=uuid.UUID(flow_run_id))
    run_uuid = uuid.UUID(flow_run_id)
    store.write([Transition("flow", run_uuid, run_uuid, late, 1, late.timestamp, late.timestamp)])
    record = store.get_run("flow", flow_run_id)
    assert record is not None and record.state_name == "Crashed"
    assert [e.name for e in store.events(flow_run_id, flow_run_id)][-2:] == ["Crashed", "Completed"]


def test_the_settings_repr_masks_the_password() -> None:
    from flowhook.store import load_settings

    settings = load_settings({"FLOWHOOK_STORE_URL": f"postgresql://u:{PASSWORD}@h/db"})
    assert PASSWORD not in repr(settings) and "postgresql://u:***@h/db" in repr(settings)


def test_psycopg_is_imported_only_when_a_postgresql_store_is_opened() -> None:
    code = (
        "import sys, flowhook, flowhook.store, flowhook.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'psycopg_pool')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _dump(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every copied table, in key order, by the columns both schemas have."""
    from flowhook.store._copy import COPIED_TABLES

    dumped = {}
    for table, key in COPIED_TABLES:
        # PostgreSQL's crash_hooks has a column of its own (seq), made anew by an insert.
        columns = (
            "run_id, run_kind, process_id, claimed_by, created" if table == "crash_hooks" else "*"
        )
        dumped[table] = execute(store, f"SELECT {columns} FROM {table} ORDER BY {key}")
    return dumped


def test_copy_5000_runs_there_and_back_page_by_page(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowhook.store import SQLiteStore
    from flowhook.store._copy import PAGE_ROWS

    monkeypatch.delenv("FLOWHOOK_STORE_URL")
    first = SQLiteStore(tmp_path / "first.db")
    try:
        fill_history(first, 5000)
        original = _dump(first)
    finally:
        first.close()
    assert len(original["state_events"]) > 5 * PAGE_ROWS  # many pages of each large table
    there = run("store", "copy", "--from", str(tmp_path / "first.db"), "--to", postgres_url)
    assert there.exit_code == 0, there.output  # type: ignore[attr-defined]
    assert "5001 flow_runs, 5001 task_runs" in there.output  # type: ignore[attr-defined]
    monkeypatch.setenv("FLOWHOOK_STORE_URL", postgres_url)
    shared = open_store()
    try:
        assert _dump(shared) == original
        # The run pages' counts of task runs are made as the rows are copied in.
        kept = execute(shared, "SELECT flow_run_id, sum(runs) FROM task_run_counts GROUP BY 1")
        rows = execute(
            shared,
            "SELECT flow_run_id, count(*) FROM task_runs WHERE flow_run_id IS NOT NULL GROUP BY 1",
        )
        assert len(rows) == 5001 and dict(kept) == dict(rows)
    finally:
        shared.close()
    back = run("store", "copy", "--from", postgres_url, "--to", str(tmp_path / "back.db"))
    assert back.exit_code == 0, back.output  # type: ignore[attr-defined]
    returned = SQLiteStore(tmp_path / "back.db")
    try:
        assert _dump(returned) == original
    finally:
        returned.close()


def test_copy_from_one_postgresql_database_to_another(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crashed runs whose hooks are still due included: their order (``seq``, an identity column
    PostgreSQL numbers itself) is copied, and a crash recorded after the copy comes after them."""
    first, second = postgres_server.new_database(), postgres_server.new_database()
    try:
        monkeypatch.setenv("FLOWHOOK_STORE_URL", first)
        source = open_store()
        try:
            fill_history(source, 50)
            original = _dump(source)
            order = execute(source, "SELECT run_id FROM crash_hooks ORDER BY seq")
        finally:
            source.close()
        copied = run("store", "copy", "--from", first, "--to", second)
        assert copied.exit_code == 0, copied.output  # type: ignore[attr-defined]
        assert "2 crash_hooks" in copied.output  # type: ignore[attr-defined]
        monkeypatch.setenv("FLOWHOOK_STORE_URL", second)
        target = open_store()
        try:
            assert _dump(target) == original
            process = fake_process(target, pid=78)
            [(later, _)] = [fake_flow_run(target, process, with_task=False)]
            target.crash_runs(process, flowhook.states.Crashed(message="gone"), hooks_by="reaper")
            after = execute(target, "SELECT run_id FROM crash_hooks ORDER BY seq")
            assert after == [*order, (later,)]
        finally:
            target.close()
    finally:
        postgres_server.drop_database(first)
        postgres_server.drop_database(second)


def test_rows_are_copied_as_text_into_a_table_with_a_column_of_another_type(
    postgres_url: str,
) -> None:
    """A batch's rows go by binary COPY only into tables of the column types psycopg writes
    from the row's values: a JSON text into a ``jsonb`` column is the server's to parse."""
    import psycopg

    from flowhook.store._postgres.copying import copy_rows

    rows = [(1, '{"a": [1, 2]}', 0.5, "x"), (2, "[]", None, None)]
    types: dict[tuple[str, str], list[int] | None] = {}
    with psycopg.connect(postgres_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE plain (id BIGINT PRIMARY KEY, doc TEXT, at FLOAT8, note TEXT)")
        cur.execute("CREATE TABLE docs (id BIGINT PRIMARY KEY, doc JSONB, at FLOAT8, note TEXT)")
        with conn.transaction():
            for table in ("plain", "docs"):
                copy_rows(cur, rows, (table, "id, doc, at, note", ""), types)
        columns = "id, doc, at, note"
        assert types["plain", columns] is not None and types["docs", columns] is None
        for table in ("plain", "docs"):
            found = cur.execute(f"SELECT id, doc::text, at, note FROM {table} ORDER BY id")
            assert found.fetchall() == [(1, '{"a": [1, 2]}', 0.5, "x"), (2, "[]", None, None)]
        kinds = cur.execute("SELECT jsonb_typeof(doc) FROM docs ORDER BY id").fetchall()
        assert kinds == [("object",), ("array",)]


def _scans(store: Store) -> dict[str, tuple[int, int]]:
    """Each run table's (sequential scans, index scans) so far, as the server counts them."""
    rows = execute(
        store,
        "SELECT relname, seq_scan, coalesce(idx_scan, 0) FROM pg_stat_user_tables "
        "WHERE relname IN ('flow_runs', 'task_runs')",
    )
    return {table: (seq, index) for table, seq, index in rows}


def _task_run_reads(store: Store) -> tuple[int, int, int]:
    """``task_runs``' sequential scans, index scans, and scans of its index by flow run so far."""
    [row] = execute(
        store,
        "SELECT t.seq_scan, coalesce(t.idx_scan, 0), i.idx_scan FROM pg_stat_user_tables AS t "
        "JOIN pg_stat_user_indexes AS i ON i.relid = t.relid "
        "WHERE t.relname = 'task_runs' AND i.indexrelname = 'task_runs_flow_run'",
    )
    return row


def test_a_flow_runs_task_runs_are_counted_without_reading_them(store: Store) -> None:
    """The run page's count of a flow run's task runs is kept as they are inserted: PostgreSQL
    would visit each row to count it (390 ms at a million task runs, 130 once vacuumed)."""
    flow_run_id = str(uuid.uuid4())
    execute(
        store,
        "INSERT INTO task_runs (id, name, task_name, created, flow_run_id, state_type) "
        "SELECT gen_random_uuid()::text, 'r', 'n', 0, ?, 'COMPLETED' "
        "FROM generate_series(1, 20000)",
        flow_run_id,
    )
    execute(store, "ANALYZE task_runs")
    before = _task_run_reads(store)
    counter = open_store()  # a connection of its own: its counts reach the server as it closes
    try:
        counted = counter.task_state_counts(flow_run_id)
    finally:
        counter.close()
    assert {state: n for state, n in counted.items() if n} == {"COMPLETED": 20000}

    def read() -> tuple[int, int, int] | None:
        """The counts once the count's reads of task_runs are in (its one index scan: the task
        runs in a state other than Completed)."""
        now = _task_run_reads(store)
        return now if now[0] + now[1] > before[0] + before[1] else None

    after = wait_for(read, timeout=20, what="the server to count the reads of task_runs")
    assert (after[0] - before[0], after[2] - before[2]) == (0, 0)


def test_a_run_is_found_by_the_start_of_its_id_from_the_primary_keys_index(store: Store) -> None:
    """``runs show``, ``runs logs``, ``runs cancel`` and the UI's run page find a run by the
    start of its id: read from the index, not from every row (at a million task runs, 65 ms
    against 0.2)."""
    wanted = str(uuid.uuid4())
    execute(
        store,
        "INSERT INTO task_runs (id, name, task_name, created) VALUES (?, 'r', 'n', 0)",
        wanted,
    )
    for table, names in (("flow_runs", "flow_name"), ("task_runs", "task_name")):
        execute(
            store,
            f"INSERT INTO {table} (id, name, {names}, created) "
            "SELECT gen_random_uuid()::text, 'r', 'n', 0 FROM generate_series(1, 20000)",
        )
        execute(store, f"ANALYZE {table}")
    before = _scans(store)
    finder = open_store()  # a connection of its own: its counts reach the server as it closes
    try:
        assert [run.id for run in finder.find_runs(wanted[:13])] == [wanted]
    finally:
        finder.close()

    def counted() -> dict[str, tuple[int, int]] | None:
        """The counts once the lookup's scans of both tables are in (whichever kind)."""
        now = _scans(store)
        return now if all(sum(now[table]) > sum(before[table]) for table in before) else None

    after = wait_for(counted, timeout=20, what="the server to count the lookup's scans")
    assert {table: after[table][0] - before[table][0] for table in after} == {
        "flow_runs": 0,
        "task_runs": 0,
    }
