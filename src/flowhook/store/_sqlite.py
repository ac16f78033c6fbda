"""The SQLite store: the schema, its migrations and every SQL statement flowhook runs.

One database file, in WAL mode so that readers never block the writer. Every write is one
``BEGIN IMMEDIATE`` transaction, retried while other processes hold the lock (the busy timeout
waits inside SQLite; the retry loop outlasts a long checkpoint or a slow disk), so several
processes can record runs at once without "database is locked" errors and without losing events.
Each thread uses its own connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from flowhook_hookspec.errors import ConfigError
from flowhook_hookspec.serde import exception_to_dict
from flowhook_hookspec.states import State, StateType

from ._records import (
    Beat,
    CancelRequest,
    EventRecord,
    HookError,
    HookErrorRecord,
    NewRun,
    OutboxEntry,
    OutboxRecord,
    ProcessInfo,
    ProcessRecord,
    PruneReport,
    RunKindName,
    RunQuery,
    RunRecord,
    Transition,
    Write,
)

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "StoreError"]

T = TypeVar("T")

#: Each entry upgrades the schema by one version; ``PRAGMA user_version`` is the number applied.
#: Never edit an entry once released: add one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE processes (
            id INTEGER PRIMARY KEY,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            start_token TEXT,
            started REAL NOT NULL,
            last_heartbeat REAL NOT NULL,
            command TEXT,
            flowhook_version TEXT
        )""",
        """CREATE TABLE flow_runs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            flow_name TEXT NOT NULL,
            import_path TEXT,
            parameters TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            parent_flow_run_id TEXT,
            parent_task_run_id TEXT,
            process_id INTEGER,
            state_type TEXT NOT NULL DEFAULT 'PENDING',
            state_name TEXT NOT NULL DEFAULT 'Pending',
            state_message TEXT,
            run_count INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            start_time REAL,
            end_time REAL,
            cancel_requested REAL,
            cancel_message TEXT,
            cancel_delivered REAL
        )""",
        "CREATE INDEX flow_runs_created ON flow_runs (created)",
        "CREATE INDEX flow_runs_open ON flow_runs (process_id) WHERE end_time IS NULL",
        """CREATE TABLE task_runs (
            id TEXT PRIMARY KEY,
            flow_run_id TEXT,
            name TEXT NOT NULL,
            task_name TEXT NOT NULL,
            import_path TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            process_id INTEGER,
            state_type TEXT NOT NULL DEFAULT 'PENDING',
            state_name TEXT NOT NULL DEFAULT 'Pending',
            state_message TEXT,
            run_count INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            start_time REAL,
            end_time REAL
        )""",
        "CREATE INDEX task_runs_flow_run ON task_runs (flow_run_id, created)",
        "CREATE INDEX task_runs_open ON task_runs (process_id) WHERE end_time IS NULL",
        # Append-only: one row per state a run entered. Never the result value. history_id is the
        # flow run the event belongs to, or the task run itself outside any flow: one index on
        # it serves both, where an index on run_id would cost a random insert per event.
        """CREATE TABLE state_events (
            seq INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL,
            run_kind TEXT NOT NULL,
            history_id TEXT NOT NULL,
            type TEXT NOT NULL,
            name TEXT NOT NULL,
            message TEXT,
            timestamp REAL NOT NULL,
            scheduled_time REAL,
            exception_type TEXT,
            exception_message TEXT,
            traceback TEXT
        )""",
        "CREATE INDEX state_events_history ON state_events (history_id, seq)",
        """CREATE TRIGGER state_events_append_only BEFORE UPDATE ON state_events
            BEGIN SELECT RAISE(ABORT, 'state events are append-only'); END""",
        """CREATE TABLE hook_errors (
            seq INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL,
            run_kind TEXT NOT NULL,
            history_id TEXT NOT NULL,
            timestamp REAL NOT NULL,
            description TEXT NOT NULL,
            traceback TEXT
        )""",
        "CREATE INDEX hook_errors_history ON hook_errors (history_id, seq)",
        # Named notifier configurations (filled by the notifications module).
        """CREATE TABLE blocks (
            id INTEGER PRIMARY KEY,
            block_type TEXT NOT NULL,
            name TEXT NOT NULL,
            data TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            UNIQUE (block_type, name)
        )""",
        # Rendered notifications waiting for delivery, with their retry bookkeeping. status:
        # pending, sent or dead; a claim (worker id, until when) reserves a message for a sender.
        """CREATE TABLE notification_outbox (
            id INTEGER PRIMARY KEY,
            block_type TEXT NOT NULL,
            block_name TEXT NOT NULL,
            rule TEXT,
            run_kind TEXT,
            run_id TEXT,
            flow_run_id TEXT,
            event TEXT,
            subject TEXT,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt REAL NOT NULL,
            claimed_by TEXT,
            claimed_until REAL,
            last_error TEXT,
            created REAL NOT NULL,
            delivered REAL,
            idempotency_key TEXT NOT NULL UNIQUE
        )""",
        "CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt)",
    ),
    (
        # A run's consecutive states recorded in one batch share a row: the row's columns hold
        # the last of them, ``earlier`` a JSON array of those before it, each as
        # [type, name, message, timestamp, scheduled_time, exception_type, exception_message,
        # traceback]. SQLite inserts, at ~5-8 us a row, were most of the store's cost per run.
        "ALTER TABLE state_events ADD COLUMN earlier TEXT",
    ),
    (
        # A task run created and ended within one batch (most of them) keeps its states, in
        # the same form, in its own row's ``states``: no event row at all. Its later states, if
        # any, are event rows as for every other run.
        "ALTER TABLE task_runs ADD COLUMN states TEXT",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

_FLOW_COLUMNS = (
    "id, name, flow_name, import_path, state_type, state_name, state_message, run_count, "
    "created, start_time, end_time, process_id, parent_flow_run_id, parent_task_run_id, tags, "
    "parameters, cancel_requested"
)
_TASK_COLUMNS = (
    "id, name, task_name, import_path, state_type, state_name, state_message, run_count, "
    "created, start_time, end_time, process_id, flow_run_id, tags"
)
_EVENT_COLUMNS = (
    "run_id, run_kind, history_id, type, name, message, timestamp, scheduled_time, "
    "exception_type, exception_message, traceback, earlier"
)
_INSERT_EVENT = (
    f"INSERT INTO state_events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_RUN = (
    "UPDATE {table} SET state_type = ?, state_name = ?, state_message = ?, run_count = ?, "
    "start_time = ?, end_time = ? WHERE id = ?"
)
_STATE_COLUMNS = "state_type, state_name, state_message, run_count, start_time, end_time"
_INSERT_FLOW_RUN = (
    "INSERT OR IGNORE INTO flow_runs (id, name, flow_name, import_path, created, process_id, "
    f"parent_flow_run_id, parent_task_run_id, tags, parameters, {_STATE_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_TASK_RUN = (
    "INSERT OR IGNORE INTO task_runs (id, name, task_name, import_path, created, process_id, "
    f"flow_run_id, tags, states, {_STATE_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: Where a fresh task run's insert row holds its ``states`` (see _new_run_row).
_TASK_ROW_STATES = 8
#: Task runs crash before the flow runs they belong to, as they would in a live process.
_CRASH_ORDER: tuple[tuple[RunKindName, str, str], ...] = (
    ("task", "task_runs", "coalesce(flow_run_id, id)"),
    ("flow", "flow_runs", "id"),
)
_TABLES: dict[RunKindName, str] = {"flow": "flow_runs", "task": "task_runs"}
_EVENT_SELECT = (
    "seq, run_id, type, name, message, timestamp, scheduled_time, exception_type, "
    "exception_message, traceback, earlier"
)
_COUNT_EVENTS = "count(*) + coalesce(sum(json_array_length(earlier)), 0)"
_COUNT_RUN_ROW_STATES = "coalesce(sum(json_array_length(states)), 0)"
_PROCESS_COLUMNS = "id, pid, host, start_token, started, last_heartbeat, command"


class StoreError(Exception):
    """The database cannot be used: unreadable, corrupt, not a database, or no space left."""


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _state_columns(state: State, tb: str | None) -> tuple[Any, ...]:
    """One state as the event columns from ``type`` to ``traceback``.

    The columns are the fields of the contract converter's form of a state (the test suite
    checks that they agree), with times as seconds since the epoch; they are read here directly
    because this runs for every transition of every run. A Completed state's data is its result
    and is never written. ``state.type`` is a ``str`` enum: SQLite and JSON store its value.
    """
    exc = state.data
    info = (
        exception_to_dict(exc)
        if isinstance(exc, BaseException) and state.type is not StateType.COMPLETED
        else None
    )
    scheduled = state.scheduled_time
    return (
        state.type,
        state.name,
        state.message,
        state.timestamp.timestamp(),
        None if scheduled is None else scheduled.timestamp(),
        None if info is None else info["type"],
        None if info is None else info["message"],
        tb,
    )


#: JSON without spaces, from one encoder made once (``json.dumps`` makes one per call).
_compact_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _event_row(
    kind: RunKindName, run_id: str, history_id: str, states: list[tuple[Any, ...]]
) -> tuple[Any, ...]:
    """The state_events row of one run's consecutive ``states`` (as :func:`_state_columns`)."""
    earlier = _compact_json(states[:-1]) if len(states) > 1 else None
    return (run_id, kind, history_id, *states[-1], earlier)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _run_fields(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    """The fields flow runs and task runs share: the first 12 columns of both selects."""
    return {
        "id": row[0],
        "name": row[1],
        "owner_name": row[2],
        "import_path": row[3],
        "state_type": row[4],
        "state_name": row[5],
        "state_message": row[6],
        "run_count": row[7],
        "created": row[8],
        "start_time": row[9],
        "end_time": row[10],
        "process_id": row[11],
    }


def _flow_record(row: sqlite3.Row | tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        kind="flow",
        **_run_fields(row),
        parent_flow_run_id=row[12],
        parent_task_run_id=row[13],
        tags=tuple(_loads(row[14]) or ()),
        parameters=_loads(row[15]),
        cancel_requested=row[16],
    )


def _task_record(row: sqlite3.Row | tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        kind="task",
        **_run_fields(row),
        flow_run_id=row[12],
        tags=tuple(_loads(row[13]) or ()),
    )


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _event_records(
    in_run_rows: list[tuple[Any, ...]], rows: list[tuple[Any, ...]], *, in_time_order: bool
) -> list[EventRecord]:
    """The events of task runs' ``states`` (``(id, states)`` pairs) and of state_events rows
    (in ``seq`` order, each row's ``earlier`` states first).

    Packed states are in the order of the batches that wrote them, not the order they were
    entered: ``in_time_order`` sorts a flow run's history by timestamp (a stable sort: the write
    order breaks ties). One run's own events are always in the order it entered them. A state
    kept in its task run's row has no event row: its ``seq`` is 0.
    """
    events: list[tuple[int, str, Sequence[Any]]] = []
    for run_id, states in in_run_rows:
        events += [(0, run_id, packed) for packed in json.loads(states)]
    for seq, run_id, *columns, earlier in rows:
        if earlier is not None:
            events += [(seq, run_id, packed) for packed in json.loads(earlier)]
        events.append((seq, run_id, columns))
    if in_time_order:
        events.sort(key=lambda event: event[2][3])  # the timestamp column
    return [_event_record(*event) for event in events]


def _event_record(seq: int, run_id: str, columns: Sequence[Any]) -> EventRecord:
    """An event as the contract's converter writes a state (ISO 8601 times)."""
    type_, name, message, timestamp, scheduled, exc_type, exc_message, tb = columns
    exception = None if exc_type is None else {"type": exc_type, "message": exc_message}
    state = {
        "type": type_,
        "name": name,
        "message": message,
        "timestamp": _iso(timestamp),
        "run_id": run_id,
        "scheduled_time": _iso(scheduled),
        "exception": exception,
    }
    return EventRecord(seq=seq, run_id=run_id, state=state, traceback=tb)


def _prepare_files(path: Path) -> None:
    """The directory (0700) and the database file (0600), when they do not exist yet."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


class SQLiteStore:
    """The :class:`~flowhook.store.Store` on one SQLite file.

    ``create=False`` opens an existing database only (the command line never creates one).
    Raises :class:`StoreError` when the file cannot be used, and
    :class:`~flowhook_hookspec.errors.ConfigError` when a newer flowhook wrote it.
    """

    def __init__(self, path: Path, *, lock_timeout: float = 30.0, create: bool = True) -> None:
        self.path = path
        self.location = str(path)
        self.lock_timeout = lock_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._closed = False
        try:
            if create:
                _prepare_files(path)
            elif not path.is_file():
                raise StoreError(f"there is no flowhook database at {path}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"cannot use the flowhook database {path}: {exc}") from exc
        except OSError as exc:
            self.close()
            reason = exc.strerror or str(exc)
            raise StoreError(f"cannot use the flowhook database {path}: {reason}") from exc

    # -- connections and transactions ---------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError(f"the store at {self.location} is closed")
            conn = sqlite3.connect(
                self.location, timeout=5.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA synchronous = NORMAL")
            with self._guard:
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    def _retrying(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.005
        while True:
            conn = self._connection()
            try:
                return operation(conn)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)

    def _write(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body`` in one write transaction, retried while the database is locked."""

        def transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        return self._retrying(transaction)

    def _reading(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body`` in one read transaction: all its queries see the same snapshot."""

        def transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN")
            try:
                return body(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

        return self._retrying(transaction)

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._retrying(lambda conn: conn.execute(sql, parameters).fetchall())

    def _migrate(self) -> None:
        conn = self._connection()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        self._refuse_newer(version)
        if version == SCHEMA_VERSION:
            return
        self._retrying(lambda conn: conn.execute("PRAGMA journal_mode = WAL").fetchone())

        def upgrade(conn: sqlite3.Connection) -> None:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            self._refuse_newer(current)
            for number in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

        self._write(upgrade)

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"the flowhook database {self.location} has schema version {version}, written by "
                f"a newer flowhook; this one reads up to version {SCHEMA_VERSION}. Upgrade "
                "flowhook, or set FLOWHOOK_HOME to another directory"
            )

    def schema_version(self) -> int:
        return int(self._read("PRAGMA user_version")[0][0])

    def close(self) -> None:
        """Close every connection this store opened, in any thread."""
        with self._guard:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # -- processes ----------------------------------------------------------------------------

    def register_process(self, process: ProcessInfo) -> int:
        now = time.time()

        def insert(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO processes (pid, host, start_token, started, last_heartbeat, command, "
                "flowhook_version) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    process.pid,
                    process.host,
                    process.start_token,
                    process.started,
                    now,
                    process.command,
                    process.flowhook_version,
                ),
            )
            return int(cursor.lastrowid or 0)

        return self._write(insert)

    def heartbeat(self, process_id: int, at: float) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE processes SET last_heartbeat = max(last_heartbeat, ?) WHERE id = ?",
                (at, process_id),
            )
        )

    def process(self, process_id: int) -> ProcessRecord | None:
        rows = self._read(f"SELECT {_PROCESS_COLUMNS} FROM processes WHERE id = ?", (process_id,))
        return ProcessRecord(*rows[0]) if rows else None

    def unfinished_processes(self) -> list[ProcessRecord]:
        """The processes that own at least one run not in a final state."""
        rows = self._read(
            f"SELECT {_PROCESS_COLUMNS} FROM processes WHERE id IN ("
            "SELECT process_id FROM flow_runs WHERE end_time IS NULL "
            "UNION SELECT process_id FROM task_runs WHERE end_time IS NULL) ORDER BY id"
        )
        return [ProcessRecord(*row) for row in rows]

    def crash_runs(self, process_id: int, state: State) -> list[tuple[RunKindName, str]]:
        """Move every unfinished run of a dead process to ``state``; returns those this call moved.

        The update is conditional on the run still being unfinished, inside one write
        transaction, so of several reapers racing over the same runs exactly one crashes each.
        Task runs come first, then flow runs, newest first (subflows before their parents).
        """
        at = state.timestamp.timestamp()

        def crash(conn: sqlite3.Connection) -> list[tuple[RunKindName, str]]:
            crashed: list[tuple[RunKindName, str]] = []
            for kind, table, history_column in _CRASH_ORDER:
                rows = conn.execute(
                    f"SELECT id, {history_column} FROM {table} "
                    "WHERE process_id = ? AND end_time IS NULL ORDER BY created DESC",
                    (process_id,),
                ).fetchall()
                for run_id, history_id in rows:
                    cursor = conn.execute(
                        f"UPDATE {table} SET state_type = ?, state_name = ?, state_message = ?, "
                        "end_time = ? WHERE id = ? AND end_time IS NULL",
                        (state.type.value, state.name, state.message, at, run_id),
                    )
                    if cursor.rowcount == 1:
                        row = _event_row(kind, run_id, history_id, [_state_columns(state, None)])
                        conn.execute(_INSERT_EVENT, row)
                        crashed.append((kind, run_id))
            return crashed

        return self._write(crash)

    # -- recording ----------------------------------------------------------------------------

    def write(self, batch: Iterable[Write]) -> None:
        """Apply a batch of writes in one transaction, in order.

        A run created in this batch is inserted with the last state it reached in the batch, and
        a task run created in it keeps the batch's states in its own row: a short task run costs
        one insert. Other runs get one event row each for their states of the batch.
        """
        # Keyed by id() of the run's UUID object: the engine uses one object per run, and a
        # UUID's own hash is computed in Python. A miss is only slower, never wrong.
        fresh: dict[RunKindName, dict[int, list[Any]]] = {"flow": {}, "task": {}}
        updates: dict[RunKindName, dict[int, tuple[Any, ...]]] = {"flow": {}, "task": {}}
        #: Per run, in the order runs first appear: (kind, run id, history id, its states).
        run_events: dict[int, tuple[RunKindName, str, str, list[tuple[Any, ...]]]] = {}
        #: Per run, its last transition in the batch: the run row's new current state.
        last: dict[int, Transition] = {}
        hook_errors: list[tuple[Any, ...]] = []
        outbox: list[tuple[Any, ...]] = []
        beat: Beat | None = None
        ids: dict[int, str] = {}
        for item in batch:
            if isinstance(item, Transition):
                kind, uuid, history_uuid, state, _, _, _, tb = item
                key = id(uuid)
                packed = run_events.get(key)
                if packed is None:
                    run_id = ids.get(key)
                    if run_id is None:
                        run_id = ids[key] = str(uuid)
                    history_id = ids.get(id(history_uuid))
                    if history_id is None:
                        history_id = ids[id(history_uuid)] = str(history_uuid)
                    packed = run_events[key] = (kind, run_id, history_id, [])
                packed[3].append(_state_columns(state, tb))
                last[key] = item
            elif isinstance(item, NewRun):
                row = _new_run_row(item)
                ids[id(item.id)] = row[0]
                if item.flow_run_id is not None:  # the same flow run id for all its tasks
                    flow_run_id = ids.get(id(item.flow_run_id))
                    if flow_run_id is None:
                        flow_run_id = ids[id(item.flow_run_id)] = str(item.flow_run_id)
                    row[6] = flow_run_id
                fresh[item.kind][id(item.id)] = row
            elif isinstance(item, HookError):
                hook_errors.append(
                    (
                        str(item.run_id),
                        item.kind,
                        str(item.history_id),
                        item.timestamp,
                        item.description,
                        item.traceback,
                    )
                )
            elif isinstance(item, OutboxEntry):
                outbox.append(_outbox_row(item))
            else:
                beat = item

        for key, (kind, _, _, state, run_count, start, end, _) in last.items():
            columns = (
                state.type,
                state.name,
                state.message,
                run_count,
                None if start is None else start.timestamp(),
                None if end is None else end.timestamp(),
            )
            fresh_row = fresh[kind].get(key)
            if fresh_row is not None:
                fresh_row[-6:] = columns
            else:
                updates[kind][key] = (*columns, run_events[key][1])
        events = []
        for key, packed in run_events.items():
            fresh_task = fresh["task"].get(key)
            if fresh_task is not None:  # its states go in its own row
                fresh_task[_TASK_ROW_STATES] = _compact_json(packed[3])
            else:
                events.append(_event_row(*packed))

        def apply(conn: sqlite3.Connection) -> None:
            if fresh["flow"]:
                conn.executemany(_INSERT_FLOW_RUN, fresh["flow"].values())
            if fresh["task"]:
                conn.executemany(_INSERT_TASK_RUN, fresh["task"].values())
            for kind, table in _TABLES.items():
                if updates[kind]:
                    conn.executemany(_UPDATE_RUN.format(table=table), updates[kind].values())
            if events:
                conn.executemany(_INSERT_EVENT, events)
            if hook_errors:
                conn.executemany(
                    "INSERT INTO hook_errors (run_id, run_kind, history_id, timestamp, "
                    "description, traceback) VALUES (?, ?, ?, ?, ?, ?)",
                    hook_errors,
                )
            if outbox:
                conn.executemany(_INSERT_OUTBOX, outbox)
            if beat is not None:
                conn.execute(
                    "UPDATE processes SET last_heartbeat = max(last_heartbeat, ?) WHERE id = ?",
                    (beat.at, beat.process_id),
                )

        self._write(apply)

    # -- blocks ------------------------------------------------------------------------------

    def save_block(
        self, block_type: str, name: str, data: dict[str, Any], *, overwrite: bool = False
    ) -> bool:
        """Save a block's field values; False when it exists and ``overwrite`` is false."""
        now = time.time()
        text = json.dumps(data)

        def save(conn: sqlite3.Connection) -> bool:
            if overwrite:
                conn.execute(
                    "INSERT INTO blocks (block_type, name, data, created, updated) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (block_type, name) "
                    "DO UPDATE SET data = excluded.data, updated = excluded.updated",
                    (block_type, name, text, now, now),
                )
                return True
            cursor = conn.execute(
                "INSERT OR IGNORE INTO blocks (block_type, name, data, created, updated) "
                "VALUES (?, ?, ?, ?, ?)",
                (block_type, name, text, now, now),
            )
            return cursor.rowcount == 1

        return self._write(save)

    def load_block(self, block_type: str, name: str) -> dict[str, Any] | None:
        rows = self._read(
            "SELECT data FROM blocks WHERE block_type = ? AND name = ?", (block_type, name)
        )
        return json.loads(rows[0][0]) if rows else None

    def list_blocks(self) -> list[tuple[str, str]]:
        rows = self._read("SELECT block_type, name FROM blocks ORDER BY block_type, name")
        return [(row[0], row[1]) for row in rows]

    def delete_block(self, block_type: str, name: str) -> bool:
        return self._write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM blocks WHERE block_type = ? AND name = ?", (block_type, name)
                ).rowcount
                == 1
            )
        )

    # -- notification outbox ------------------------------------------------------------------

    def enqueue_outbox(self, entries: Iterable[OutboxEntry]) -> None:
        rows = [_outbox_row(entry) for entry in entries]
        if rows:
            self._write(lambda conn: conn.executemany(_INSERT_OUTBOX, rows))

    def claim_outbox(
        self, worker: str, now: float, limit: int, lease_seconds: float
    ) -> list[OutboxRecord]:
        """Reserve up to ``limit`` due messages for ``worker`` until ``now + lease_seconds``."""

        def claim(conn: sqlite3.Connection) -> list[OutboxRecord]:
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM notification_outbox WHERE status = 'pending' "
                "AND next_attempt <= ? AND (claimed_until IS NULL OR claimed_until < ?) "
                "ORDER BY next_attempt, id LIMIT ?",
                (now, now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE notification_outbox SET claimed_by = ?, claimed_until = ? WHERE id = ?",
                [(worker, now + lease_seconds, row[0]) for row in rows],
            )
            return [_outbox_record(row) for row in rows]

        return self._write(claim)

    def outbox_claimants(self) -> list[int]:
        """The store process ids that hold claims on pending messages (ids ``<process>:...``)."""
        rows = self._read(
            "SELECT DISTINCT claimed_by FROM notification_outbox "
            "WHERE status = 'pending' AND claimed_by IS NOT NULL"
        )
        found = set()
        for (claimed_by,) in rows:
            head = str(claimed_by).split(":", 1)[0]
            if head.isdigit():
                found.add(int(head))
        return sorted(found)

    def release_outbox_claims(self, worker_prefix: str) -> int:
        """Release the claims of a worker that died (its ids start with ``worker_prefix``)."""
        return self._write(
            lambda conn: (
                conn.execute(
                    "UPDATE notification_outbox SET claimed_by = NULL, claimed_until = NULL "
                    "WHERE status = 'pending' AND claimed_by LIKE ? ESCAPE '\\'",
                    (worker_prefix.replace("%", "\\%").replace("_", "\\_") + "%",),
                ).rowcount
            )
        )

    def mark_outbox_sent(self, message_id: int, at: float) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE notification_outbox SET status = 'sent', attempts = attempts + 1, "
                "delivered = ?, claimed_by = NULL, claimed_until = NULL, last_error = NULL "
                "WHERE id = ?",
                (at, message_id),
            )
        )

    def mark_outbox_retry(
        self, message_id: int, attempts: int, next_attempt: float, error: str
    ) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE notification_outbox SET attempts = ?, next_attempt = ?, last_error = ?, "
                "claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                (attempts, next_attempt, error, message_id),
            )
        )

    def mark_outbox_dead(self, message_id: int, attempts: int, error: str) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE notification_outbox SET status = 'dead', attempts = ?, last_error = ?, "
                "claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                (attempts, error, message_id),
            )
        )

    def next_outbox_attempt(self) -> float | None:
        rows = self._read(
            "SELECT min(next_attempt) FROM notification_outbox WHERE status = 'pending'"
        )
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    def pending_outbox_due(self, now: float) -> int:
        rows = self._read(
            "SELECT count(*) FROM notification_outbox WHERE status = 'pending' AND next_attempt <= ?",
            (now,),
        )
        return int(rows[0][0])

    def pending_outbox_count(self) -> int:
        rows = self._read("SELECT count(*) FROM notification_outbox WHERE status = 'pending'")
        return int(rows[0][0])

    def list_outbox(self, status: str | None = None, limit: int = 200) -> list[OutboxRecord]:
        where, parameters = ("WHERE status = ?", (status, limit)) if status else ("", (limit,))
        rows = self._read(
            f"SELECT {_OUTBOX_COLUMNS} FROM notification_outbox {where} ORDER BY id DESC LIMIT ?",
            parameters,
        )
        return [_outbox_record(row) for row in rows]

    def retry_outbox(self, message_ids: Sequence[int] | None) -> list[int]:
        """Make messages pending again, due now: the given ids, or every dead one (None).

        Returns the ids that were changed (sent messages are left alone).
        """
        now = time.time()

        def retry(conn: sqlite3.Connection) -> list[int]:
            if message_ids is None:
                ids = [
                    row[0]
                    for row in conn.execute(
                        "SELECT id FROM notification_outbox WHERE status = 'dead'"
                    )
                ]
            else:
                ids = [
                    row[0]
                    for message_id in message_ids
                    for row in conn.execute(
                        "SELECT id FROM notification_outbox WHERE id = ? AND status != 'sent'",
                        (message_id,),
                    )
                ]
            conn.executemany(
                "UPDATE notification_outbox SET status = 'pending', attempts = 0, next_attempt = ?, "
                "claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                [(now, message_id) for message_id in ids],
            )
            return ids

        return self._write(retry)

    # -- cancellation -------------------------------------------------------------------------

    def request_cancel(self, flow_run_id: str, message: str | None, at: float) -> bool:
        """Record a cancel request; False when the run is already final."""

        def request(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE flow_runs SET cancel_requested = coalesce(cancel_requested, ?), "
                "cancel_message = coalesce(cancel_message, ?) WHERE id = ? AND end_time IS NULL",
                (at, message, flow_run_id),
            )
            return cursor.rowcount == 1

        return self._write(request)

    def cancel_requests(self, process_id: int) -> list[CancelRequest]:
        rows = self._read(
            "SELECT id, cancel_message FROM flow_runs WHERE process_id = ? AND end_time IS NULL "
            "AND cancel_requested IS NOT NULL AND cancel_delivered IS NULL",
            (process_id,),
        )
        return [CancelRequest(*row) for row in rows]

    def mark_cancel_delivered(self, flow_run_id: str, at: float) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE flow_runs SET cancel_delivered = ? WHERE id = ?", (at, flow_run_id)
            )
        )

    # -- reading ------------------------------------------------------------------------------

    def get_run(self, kind: RunKindName, run_id: str) -> RunRecord | None:
        if kind == "flow":
            rows = self._read(f"SELECT {_FLOW_COLUMNS} FROM flow_runs WHERE id = ?", (run_id,))
            return _flow_record(rows[0]) if rows else None
        rows = self._read(f"SELECT {_TASK_COLUMNS} FROM task_runs WHERE id = ?", (run_id,))
        return _task_record(rows[0]) if rows else None

    def find_runs(self, prefix: str, limit: int = 10) -> list[RunRecord]:
        """Flow runs, then task runs, whose id starts with ``prefix`` (lower-case hex and -)."""
        bounds = (prefix, prefix + "~", limit)
        flows = self._read(
            f"SELECT {_FLOW_COLUMNS} FROM flow_runs WHERE id >= ? AND id < ? LIMIT ?", bounds
        )
        tasks = self._read(
            f"SELECT {_TASK_COLUMNS} FROM task_runs WHERE id >= ? AND id < ? LIMIT ?", bounds
        )
        return [_flow_record(row) for row in flows] + [_task_record(row) for row in tasks]

    def list_flow_runs(self, query: RunQuery) -> list[RunRecord]:
        clauses: list[str] = []
        parameters: list[Any] = []
        if query.flow_name is not None:
            clauses.append("flow_name = ?")
            parameters.append(query.flow_name)
        if query.state is not None:
            clauses.append("(upper(state_type) = ? OR upper(state_name) = ?)")
            parameters += [query.state.upper()] * 2
        if query.since is not None:
            clauses.append("created >= ?")
            parameters.append(query.since)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(
            f"SELECT {_FLOW_COLUMNS} FROM flow_runs{where} ORDER BY created DESC LIMIT ?",
            [*parameters, query.limit],
        )
        return [_flow_record(row) for row in rows]

    def task_runs(self, flow_run_id: str) -> list[RunRecord]:
        rows = self._read(
            f"SELECT {_TASK_COLUMNS} FROM task_runs WHERE flow_run_id = ? ORDER BY created",
            (flow_run_id,),
        )
        return [_task_record(row) for row in rows]

    def subflow_runs(self, flow_run_id: str) -> list[RunRecord]:
        rows = self._read(
            f"SELECT {_FLOW_COLUMNS} FROM flow_runs WHERE parent_flow_run_id = ? ORDER BY created",
            (flow_run_id,),
        )
        return [_flow_record(row) for row in rows]

    def events(self, run_id: str, history_id: str) -> list[EventRecord]:
        """The states ``run_id`` entered, in order; ``history_id`` is its flow run's id (its own
        id for a flow run, or a task run outside any flow)."""

        def read(conn: sqlite3.Connection) -> list[EventRecord]:
            in_row = conn.execute(
                "SELECT id, states FROM task_runs WHERE id = ? AND states IS NOT NULL", (run_id,)
            ).fetchall()
            rows = conn.execute(
                f"SELECT {_EVENT_SELECT} FROM state_events WHERE history_id = ? AND run_id = ? "
                "ORDER BY seq",
                (history_id, run_id),
            ).fetchall()
            return _event_records(in_row, rows, in_time_order=False)

        return self._reading(read)

    def history(self, history_id: str) -> list[EventRecord]:
        """The events of a flow run and of its task runs (or of a task run outside any flow), in
        the order of their timestamps."""

        def read(conn: sqlite3.Connection) -> list[EventRecord]:
            in_rows = conn.execute(
                "SELECT id, states FROM task_runs WHERE flow_run_id = ? AND states IS NOT NULL "
                "UNION ALL SELECT id, states FROM task_runs "
                "WHERE id = ? AND flow_run_id IS NULL AND states IS NOT NULL",
                (history_id, history_id),
            ).fetchall()
            rows = conn.execute(
                f"SELECT {_EVENT_SELECT} FROM state_events WHERE history_id = ? ORDER BY seq",
                (history_id,),
            ).fetchall()
            return _event_records(in_rows, rows, in_time_order=True)

        return self._reading(read)

    def hook_errors(self, history_id: str) -> list[HookErrorRecord]:
        """Hook errors of a flow run and of its task runs (or of a task run outside any flow)."""
        rows = self._read(
            "SELECT run_id, run_kind, timestamp, description, traceback FROM hook_errors "
            "WHERE history_id = ? ORDER BY seq",
            (history_id,),
        )
        return [HookErrorRecord(*row) for row in rows]

    def count_events(self) -> int:
        """How many states are recorded (a row holds one state and its ``earlier`` ones)."""
        [(count,)] = self._read(
            f"SELECT (SELECT {_COUNT_EVENTS} FROM state_events) + "
            f"(SELECT {_COUNT_RUN_ROW_STATES} FROM task_runs)"
        )
        return int(count)

    # -- pruning ------------------------------------------------------------------------------

    def prune(self, before: float) -> PruneReport:
        """Delete finished runs that ended before ``before``, with their events and hook errors.

        Runs that are not final are never deleted, however old.
        """

        def delete(conn: sqlite3.Connection) -> PruneReport:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS pruned (id TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM temp.pruned")
            conn.execute(
                "INSERT INTO temp.pruned SELECT id FROM flow_runs "
                "WHERE end_time IS NOT NULL AND end_time < ?",
                (before,),
            )
            conn.execute(
                "INSERT INTO temp.pruned SELECT id FROM task_runs "
                "WHERE flow_run_id IS NULL AND end_time IS NOT NULL AND end_time < ?",
                (before,),
            )
            pruned_events = "FROM state_events WHERE history_id IN (SELECT id FROM temp.pruned)"
            events = conn.execute(f"SELECT {_COUNT_EVENTS} {pruned_events}").fetchone()[0]
            pruned_tasks = (
                "FROM task_runs WHERE flow_run_id IN (SELECT id FROM temp.pruned) "
                "OR id IN (SELECT id FROM temp.pruned)"
            )
            events += conn.execute(f"SELECT {_COUNT_RUN_ROW_STATES} {pruned_tasks}").fetchone()[0]
            conn.execute(f"DELETE {pruned_events}")
            conn.execute("DELETE FROM hook_errors WHERE history_id IN (SELECT id FROM temp.pruned)")
            tasks = conn.execute(f"DELETE {pruned_tasks}").rowcount
            flows = conn.execute(
                "DELETE FROM flow_runs WHERE id IN (SELECT id FROM temp.pruned)"
            ).rowcount
            processes = conn.execute(
                "DELETE FROM processes WHERE last_heartbeat < ? "
                "AND id NOT IN (SELECT process_id FROM flow_runs WHERE process_id IS NOT NULL) "
                "AND id NOT IN (SELECT process_id FROM task_runs WHERE process_id IS NOT NULL)",
                (before,),
            ).rowcount
            conn.execute("DELETE FROM temp.pruned")
            return PruneReport(flow_runs=flows, task_runs=tasks, events=events, processes=processes)

        return self._write(delete)


_OUTBOX_COLUMNS = (
    "id, block_type, block_name, status, attempts, next_attempt, last_error, subject, body, "
    "run_kind, run_id, event, rule, created, delivered"
)
_INSERT_OUTBOX = (
    "INSERT OR IGNORE INTO notification_outbox (idempotency_key, block_type, block_name, rule, "
    "run_kind, run_id, event, subject, body, next_attempt, created) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _outbox_row(entry: OutboxEntry) -> tuple[Any, ...]:
    return (
        entry.key,
        entry.block_type,
        entry.block_name,
        entry.rule,
        entry.run_kind,
        entry.run_id,
        entry.event,
        entry.subject,
        entry.body,
        entry.created,
        entry.created,
    )


def _outbox_record(row: tuple[Any, ...]) -> OutboxRecord:
    return OutboxRecord(*row)


def _new_run_row(item: NewRun) -> list[Any]:
    """The insert row of a new run; its last six columns (the state) are filled in by write()."""
    pending = [StateType.PENDING.value, "Pending", None, 0, None, None]
    if item.kind == "flow":
        return [
            str(item.id),
            item.name,
            item.owner_name,
            item.import_path,
            item.created,
            item.process_id,
            _text(item.parent_flow_run_id),
            _text(item.parent_task_run_id),
            item.tags,
            item.parameters,
            *pending,
        ]
    return [
        str(item.id),
        item.name,
        item.owner_name,
        item.import_path,
        item.created,
        item.process_id,
        None,  # flow_run_id: filled in by write(), which knows its text
        item.tags,
        None,  # states: filled in by write() (_TASK_ROW_STATES)
        *pending,
    ]


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)
