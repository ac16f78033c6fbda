"""The schema, written once for every database: its tables, as migrations, and its version.

Each migration upgrades the schema by one version; never edit one once released: add one. A
dialect fills in the placeholders (``{serial}``, ``{real}``, ... are its fields) and its own
statements; its ``migrations`` are the result. Every database has the same tables and columns
at the same version (but for what a dialect keeps of its own from the rows, PostgreSQL's
``task_run_counts``): ``flowhook store copy`` moves rows between them column for column, and
what is kept from them is made again as they arrive. JSON columns are text, decoded with the
same checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from .dialect import Dialect

__all__ = ["SCHEMA_VERSION", "migrations"]

#: Stand-ins, in the templates, for the statements of the dialect's own.
APPEND_ONLY = "<append only>"
FIRST_INDEXES = "<first indexes>"
BINARY_IDS = "<binary ids>"
TASK_RUN_COUNTS = "<task run counts>"

#: The columns flow runs and task runs share, after their own: the process and the state.
_RUN_COLUMNS = """process_id {bigint},
            state_type TEXT NOT NULL DEFAULT 'PENDING',
            state_name TEXT NOT NULL DEFAULT 'Pending',
            state_message TEXT,
            run_count INTEGER NOT NULL DEFAULT 0,
            created {real} NOT NULL,
            start_time {real},
            end_time {real}"""

_TEMPLATES: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE processes (
            id {serial},
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            start_token TEXT,
            started {real} NOT NULL,
            last_heartbeat {real} NOT NULL,
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
            {run_columns},
            cancel_requested {real},
            cancel_message TEXT,
            cancel_delivered {real}
        )""",
        "CREATE INDEX flow_runs_created ON flow_runs (created)",
        "CREATE INDEX flow_runs_open ON flow_runs (process_id) WHERE end_time IS NULL",
        FIRST_INDEXES,
        """CREATE TABLE task_runs (
            id TEXT PRIMARY KEY,
            flow_run_id TEXT,
            name TEXT NOT NULL,
            task_name TEXT NOT NULL,
            import_path TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            {run_columns}
        )""",
        "CREATE INDEX task_runs_flow_run ON task_runs (flow_run_id, created)",
        "CREATE INDEX task_runs_open ON task_runs (process_id) WHERE end_time IS NULL",
        # Append-only: one row per state a run entered. Never the result value. history_id is the
        # flow run the event belongs to, or the task run itself outside any flow: one index on
        # it serves both, where an index on run_id would cost a random insert per event.
        """CREATE TABLE state_events (
            seq {serial},
            run_id TEXT NOT NULL,
            run_kind TEXT NOT NULL,
            history_id TEXT NOT NULL,
            type TEXT NOT NULL,
            name TEXT NOT NULL,
            message TEXT,
            timestamp {real} NOT NULL,
            scheduled_time {real},
            exception_type TEXT,
            exception_message TEXT,
            traceback TEXT
        )""",
        "CREATE INDEX state_events_history ON state_events (history_id, seq)",
        APPEND_ONLY,
        """CREATE TABLE hook_errors (
            seq {serial},
            run_id TEXT NOT NULL,
            run_kind TEXT NOT NULL,
            history_id TEXT NOT NULL,
            timestamp {real} NOT NULL,
            description TEXT NOT NULL,
            traceback TEXT
        )""",
        "CREATE INDEX hook_errors_history ON hook_errors (history_id, seq)",
        # Named notifier configurations (filled by the notifications module).
        """CREATE TABLE blocks (
            id {serial},
            block_type TEXT NOT NULL,
            name TEXT NOT NULL,
            data TEXT NOT NULL,
            created {real} NOT NULL,
            updated {real} NOT NULL,
            UNIQUE (block_type, name)
        )""",
        # Rendered notifications waiting for delivery, with their retry bookkeeping. status:
        # pending, sent or dead; a claim (worker id, until when) reserves a message for a sender.
        """CREATE TABLE notification_outbox (
            id {serial},
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
            next_attempt {real} NOT NULL,
            claimed_by TEXT,
            claimed_until {real},
            last_error TEXT,
            created {real} NOT NULL,
            delivered {real},
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
        "ALTER TABLE processes ADD COLUMN exited {real}",
        # The crashed runs whose hooks are still to be fired, written in the same transaction
        # as their Crashed state and deleted once the hooks ran: a reaper killed in between
        # leaves them to the next one. ``claimed_by`` is the reaper firing them.
        """CREATE TABLE crash_hooks (
            run_id TEXT PRIMARY KEY,
            run_kind TEXT NOT NULL,
            process_id {bigint},
            claimed_by TEXT NOT NULL,
            created {real} NOT NULL{crash_hook_columns}
        )""",
        # Task runs called outside any flow are listed with the flow runs.
        "CREATE INDEX task_runs_top_level ON task_runs (created) WHERE flow_run_id IS NULL",
    ),
    # The records runs log (``flowhook runs logs``): see .logs.
    # AUTOINCREMENT: ids never go back, even once pruning deleted the newest records (a
    # ``--follow`` reads from the last id it saw).
    (
        """CREATE TABLE run_logs (
            id {log_serial},
            flow_run_id TEXT,
            task_run_id TEXT,
            level INTEGER NOT NULL,
            time {real} NOT NULL,
            message TEXT NOT NULL,
            logger TEXT NOT NULL
        )""",
        # Reading a flow run's records, with its task runs', from an id on uses the first
        # index; a task run's, the second.
        "CREATE INDEX run_logs_flow_run ON run_logs (flow_run_id, id) WHERE flow_run_id IS NOT NULL",
        "CREATE INDEX run_logs_task_run ON run_logs (task_run_id, id) WHERE task_run_id IS NOT NULL",
    ),
    (
        # 6: the number of the last batch of the process's writer applied (see BatchKey): a
        # batch replayed after a lost COMMIT is recognised and written nothing of twice.
        "ALTER TABLE processes ADD COLUMN last_batch {bigint}",
    ),
    # 7: the messages of one run (a run page of the UI) without reading the whole outbox.
    ("CREATE INDEX notification_outbox_run ON notification_outbox (run_id)",),
    # 8: a flow run's task runs counted and paged by state (the run page); Completed left out.
    (
        "CREATE INDEX task_runs_flow_state ON task_runs (flow_run_id, state_type, created) "
        "WHERE state_type <> 'COMPLETED'",
    ),
    # 9: the rest of a run page read from indexes, a page at a time: a flow run's messages
    # (its own and its task runs') by their flow run, filled in when queued and back-filled
    # here (NULL for a task run outside any flow, and for one pruned since); a run's hook
    # errors; a flow run's subflow runs (one index for both databases: PostgreSQL's first
    # one, on the parent alone, is replaced). The index of 7 served only the run page: gone.
    (
        "UPDATE notification_outbox SET flow_run_id = run_id "
        "WHERE run_kind = 'flow' AND flow_run_id IS NULL",
        "UPDATE notification_outbox SET flow_run_id = (SELECT t.flow_run_id FROM task_runs AS t "
        "WHERE t.id = notification_outbox.run_id) WHERE run_kind = 'task' AND flow_run_id IS NULL",
        "CREATE INDEX notification_outbox_flow_run ON notification_outbox (flow_run_id, id) "
        "WHERE flow_run_id IS NOT NULL",
        "DROP INDEX IF EXISTS notification_outbox_run",
        "CREATE INDEX hook_errors_run ON hook_errors (run_id, seq)",
        "DROP INDEX IF EXISTS flow_runs_parent",
        "CREATE INDEX flow_runs_parent_created ON flow_runs (parent_flow_run_id, created) "
        "WHERE parent_flow_run_id IS NOT NULL",
    ),
    # 10: a task run that entered just Pending, Running and Completed, plain, in its batch keeps
    # ``["Pending","Running","Completed"]`` in ``states``, their times being its row's (see
    # records.PLAIN_STATES). The rows already written keep their full form, which is still
    # read; the version tells an older flowhook, which cannot read the new form, to upgrade.
    (),
    # 11: the runs' ids ordered byte by byte in their own primary key's index (PostgreSQL's
    # follow the database's locale otherwise), so that finding a run by the start of its id
    # (``Dialect.binary``) reads that index rather than every row of the table.
    (BINARY_IDS,),
    # 12: how many task runs each flow run has, kept by the database as it inserts them, where
    # counting them costs a visit to every row (PostgreSQL checks each row's visibility: 390 ms
    # for a run page at a million task runs). SQLite counts them in an index: nothing here.
    (TASK_RUN_COUNTS,),
)


SCHEMA_VERSION = len(_TEMPLATES)


def migrations(dialect: Dialect) -> tuple[tuple[str, ...], ...]:
    """The migrations in ``dialect``'s SQL: entry ``n`` upgrades version ``n`` to ``n + 1``."""
    own = {
        APPEND_ONLY: dialect.append_only,
        FIRST_INDEXES: dialect.first_indexes,
        BINARY_IDS: dialect.binary_ids,
        TASK_RUN_COUNTS: dialect.task_run_counts,
    }
    types = attrs.asdict(dialect, recurse=False)  # the placeholders are its fields' names
    types["run_columns"] = _RUN_COLUMNS.format(**types)
    return tuple(
        tuple(
            filled
            for statement in migration
            for filled in own.get(statement, (statement.format(**types),))
        )
        for migration in _TEMPLATES
    )
