"""Runs and their events: recording batches and reading the history."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._records import RunKindName, RunQuery, RunRecord, Write
from .dialect import Dialect
from .listing import listing_sql, state_counts_sql
from .processes import Processes
from .records import FLOW_COLUMNS, TASK_COLUMNS, flow_record, task_record
from .rows import INTO, batch_statements

if TYPE_CHECKING:
    from .._batch import PreparedBatch
    from .._details import StateCount

__all__ = ["Runs", "count_states"]

_SELECT: dict[RunKindName, tuple[str, str, Any]] = {
    "flow": (FLOW_COLUMNS, "flow_runs", flow_record),
    "task": (TASK_COLUMNS, "task_runs", task_record),
}
_RUNS = tuple(_SELECT.values())


def count_states(dialect: Dialect, events: str, task_runs: str) -> str:
    """The expression that counts the states of the state_events rows ``FROM ...`` ``events``
    and the task_runs rows ``FROM ...`` ``task_runs`` (a row holds one state and its
    ``earlier`` ones; a task run's row, the ``states`` of its first batch)."""
    earlier, states = dialect.json.format("earlier"), dialect.json.format("states")
    return (
        f"(SELECT count(*) + coalesce(sum(json_array_length({earlier})), 0) {events}) + "
        f"(SELECT coalesce(sum(json_array_length({states})), 0) {task_runs})"
    )


class Runs(Processes):
    """The store's runs: recording and reading."""

    # -- recording ----------------------------------------------------------------------------

    def write(self, batch: Iterable[Write]) -> None:
        """Apply a batch of writes in one transaction, in order (rows as :func:`prepare_batch`
        sorts them)."""
        from .._batch import prepare_batch  # a reader (``flowhook runs ls``) never loads it

        prepared = prepare_batch(batch)
        try:
            self._apply(prepared)
        except Exception as exc:
            if not self.dialect.unstorable(exc):
                raise
            # Text the database cannot hold (a lone surrogate from a filename that is not
            # UTF-8; a NUL for PostgreSQL): written with backslash escapes, not lost.
            self._apply(prepared.escaped(nul=self.dialect.refuses_nul))

    def _apply(self, prepared: PreparedBatch) -> None:
        from .._batch import claim_batch, mark_batch

        statements = batch_statements(self.dialect)
        writes = [(table, statements[table], rows) for table, rows in prepared.tables() if rows]
        beat, exited, key, dialect = prepared.beat, prepared.exited, prepared.key, self.dialect

        def apply(db: Any) -> None:
            claimed = True if key is None else claim_batch(db, key, dialect)
            if claimed is None:
                return  # applied before: a replay after a lost COMMIT writes nothing twice
            for table, statement, rows in writes:
                self._insert_rows(db, statement, rows, INTO.get(table))
            if beat is not None:
                self._beat(db, beat.process_id, beat.at)
            if exited is not None:
                self._exit(db, exited.process_id, exited.at)
            if not claimed and key is not None:
                mark_batch(db, key, dialect)

        self._write(apply)

    # -- reading ------------------------------------------------------------------------------

    def get_run(self, kind: RunKindName, run_id: str) -> RunRecord | None:
        columns, table, record = _SELECT[kind]
        found = self._records(record, f"SELECT {columns} FROM {table} WHERE id = ?", (run_id,))
        return found[0] if found else None

    def find_runs(self, prefix: str, limit: int = 10) -> list[RunRecord]:
        """Flow runs, then task runs, whose id starts with ``prefix`` (lower-case hex and -)."""
        found: list[RunRecord] = []
        key = f"id{self.dialect.binary}"
        for columns, table, record in _RUNS:
            found += self._records(
                record,
                f"SELECT {columns} FROM {table} WHERE {key} >= ? AND {key} < ? "
                f"ORDER BY {key} LIMIT ?",
                (prefix, prefix + "~", limit),
            )
        return found

    def list_flow_runs(self, query: RunQuery) -> list[RunRecord]:
        """The top-level runs, newest first: flow runs, and task runs called outside any flow
        (``query.flow_name`` then matches the task's name)."""
        found = self._snapshot(
            *((record, *listing_sql(query, table, columns)) for columns, table, record in _RUNS)
        )
        runs = [run for listed in found for run in listed]
        runs.sort(key=lambda record: (record.created, record.id), reverse=True)
        return runs[: query.limit]

    def state_counts(
        self, since: float, until: float, buckets: int, *, flow_name: str | None = None
    ) -> list[StateCount]:
        from .._details import StateCount  # the web UI's timeline: not for a run list

        floor = self.dialect.floor
        found = self._snapshot(
            *(
                (tuple, *state_counts_sql(table, since, until, buckets, flow_name, floor))
                for table in ("flow_runs", "task_runs")
            )
        )
        totals: Counter[tuple[int, str]] = Counter()
        for raw_slice, state_type, count in (row for rows in found for row in rows):
            totals[min(int(raw_slice), buckets - 1), str(state_type)] += int(count)
        return [
            StateCount(bucket, state, count) for (bucket, state), count in sorted(totals.items())
        ]

    def count_events(self) -> int:
        """How many states are recorded (a row holds one state and its ``earlier`` ones)."""
        [(count,)] = self._read(
            f"SELECT {count_states(self.dialect, 'FROM state_events', 'FROM task_runs')}"
        )
        return int(count)
