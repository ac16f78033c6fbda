"""SQLite inserts a batch's many rows in statements of many rows each (``many_rows``): the same
rows, in the same order, with the same conflicts skipped, as one ``executemany``."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from flowhook.store import NewRun, Transition, open_store
from flowhook.store._sqlite.many_rows import MAX_ROWS, MAX_VARIABLES, insert_many
from flowhook_hookspec import states

INSERT = "INSERT OR IGNORE INTO t (k, a, b) VALUES (?, ?, ?)"


@pytest.fixture
def db() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, k TEXT UNIQUE, a, b)")
    return connection


def rows_of(db: sqlite3.Connection) -> list[tuple[object, ...]]:
    return db.execute("SELECT n, k, a, b FROM t ORDER BY n").fetchall()


@pytest.mark.parametrize("count", [1, 2, MAX_ROWS - 1, MAX_ROWS, MAX_ROWS + 1, 3 * MAX_ROWS + 7])
def test_rows_land_in_order_with_their_values(db: sqlite3.Connection, count: int) -> None:
    rows = [(f"k{i}", i, None if i % 3 else f"text {i} ✓") for i in range(count)]
    insert_many(db, INSERT, rows)
    assert rows_of(db) == [(i + 1, *row) for i, row in enumerate(rows)]


def test_a_taken_key_is_skipped_as_executemany_skips_it(db: sqlite3.Connection) -> None:
    rows = [(f"k{i % 100}", i, "x") for i in range(150)]  # the last 50 take keys again
    insert_many(db, INSERT, rows)
    executemany = sqlite3.connect(":memory:", isolation_level=None)
    executemany.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, k TEXT UNIQUE, a, b)")
    executemany.executemany(INSERT, rows)
    assert rows_of(db) == rows_of(executemany)
    assert len(rows_of(db)) == 100


def test_rows_too_wide_for_two_per_statement_go_one_by_one(db: sqlite3.Connection) -> None:
    width = MAX_VARIABLES // 2 + 1
    columns = ", ".join(f"c{i}" for i in range(width))
    db.execute(f"CREATE TABLE wide ({columns})")
    statement = f"INSERT INTO wide ({columns}) VALUES ({', '.join('?' * width)})"
    rows = [tuple(range(r, r + width)) for r in range(3)]
    insert_many(db, statement, rows)
    assert db.execute("SELECT * FROM wide").fetchall() == rows


def test_a_statement_without_its_values_at_the_end_is_refused(db: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="not an insert ending with its values"):
        insert_many(db, "INSERT INTO t (k) SELECT k FROM t", [("a",), ("b",)] * MAX_ROWS)


def test_a_batch_of_many_task_runs_is_stored_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the store: 150 task runs of one flow run, created and ended in one batch."""
    monkeypatch.setenv("FLOWHOOK_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWHOOK_STORE_URL", raising=False)
    store = open_store()
    try:
        flow_id, now = uuid.uuid4(), time.time()
        task_ids = [uuid.uuid4() for _ in range(150)]
        batch: list[object] = [NewRun("flow", flow_id, "f", "f", None, now, None)]
        for number, task_id in enumerate(task_ids):
            running, done = states.Running(), states.Completed(message=f"done {number}")
            batch += [
                NewRun("task", task_id, f"t-{number}", "t", "m:t", now + number, None, flow_id),
                Transition("task", task_id, flow_id, running, 1, running.timestamp, None),
                Transition("task", task_id, flow_id, done, 1, running.timestamp, done.timestamp),
            ]
        store.write(batch)  # type: ignore[arg-type]
        for number, task_id in enumerate(task_ids):
            record = store.get_run("task", str(task_id))
            assert record is not None
            assert (record.name, record.state_name, record.state_message) == (
                f"t-{number}",
                "Completed",
                f"done {number}",
            )
    finally:
        store.close()
