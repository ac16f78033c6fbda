"""The schema: its tables, as the migrations that create and upgrade them, and its version."""

from __future__ import annotations

__all__ = ["LOG_MIGRATION", "MIGRATIONS", "OUTBOX_RUN_INDEX", "SCHEMA_VERSION"]

#: Migration 5 (never edit it: add a migration), in SQL both databases take once ``{id}`` (the
#: id column) and ``{real}`` (a float column) are filled in. Reading a flow run's records, with
#: its task runs', from an id on uses the first index; a task run's, the second.
LOG_MIGRATION = (
    """CREATE TABLE run_logs (
        id {id},
        flow_run_id TEXT,
        task_run_id TEXT,
        level INTEGER NOT NULL,
        time {real} NOT NULL,
        message TEXT NOT NULL,
        logger TEXT NOT NULL
    )""",
    "CREATE INDEX run_logs_flow_run ON run_logs (flow_run_id, id) WHERE flow_run_id IS NOT NULL",
    "CREATE INDEX run_logs_task_run ON run_logs (task_run_id, id) WHERE task_run_id IS NOT NULL",
)


#: Each entry upgrades the schema by one version; ``PRAGMA user_version`` is the number applied.
#: Never edit an entry once released: add one.
#: Shared by both stores: the outbox's messages by run.
OUTBOX_RUN_INDEX = ("CREATE INDEX notification_outbox_run ON notification_outbox (run_id)",)

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
    (
        # When a process shut down normally (its atexit handlers ran): a run it left unfinished
        # is then "final state not recorded", never a crash.
        "ALTER TABLE processes ADD COLUMN exited REAL",
        # The crashed runs whose hooks are still to be fired, written in the same transaction
        # as their Crashed state and deleted once the hooks ran: a reaper killed in between
        # leaves them to the next one. ``claimed_by`` is the reaper firing them.
        """CREATE TABLE crash_hooks (
            run_id TEXT PRIMARY KEY,
            run_kind TEXT NOT NULL,
            process_id INTEGER,
            claimed_by TEXT NOT NULL,
            created REAL NOT NULL
        )""",
        # Task runs called outside any flow are listed with the flow runs.
        "CREATE INDEX task_runs_top_level ON task_runs (created) WHERE flow_run_id IS NULL",
    ),
    # The records runs log (``flowhook runs logs``): see .logs.
    # AUTOINCREMENT: ids never go back, even once pruning deleted the newest records (a
    # ``--follow`` reads from the last id it saw).
    tuple(
        statement.format(id="INTEGER PRIMARY KEY AUTOINCREMENT", real="REAL")
        for statement in LOG_MIGRATION
    ),
    (
        # 6: the number of the last batch of the process's writer applied (see BatchKey): a
        # batch replayed after a lost COMMIT is recognised and written nothing of twice.
        "ALTER TABLE processes ADD COLUMN last_batch INTEGER",
    ),
    # 7: the messages of one run (a run page of the UI) without reading the whole outbox.
    OUTBOX_RUN_INDEX,
)

SCHEMA_VERSION = len(MIGRATIONS)
