"""Many rows of one insert in few statements (``VALUES (...), (...), ...``).

``executemany`` binds and steps its statement once a row, through the driver's Python loop.
One statement of many rows does the same work in SQLite's own loop: about a third less per
task run's row (1.3 to 1.7 µs, see docs/performance.md), which the writer spends on every
batch.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from itertools import chain
from typing import Any

__all__ = ["MAX_ROWS", "MAX_VARIABLES", "insert_many"]

#: The values one statement may bind in every SQLite build (``SQLITE_MAX_VARIABLE_NUMBER`` is
#: 999 before SQLite 3.32, more since).
MAX_VARIABLES = 999
#: At most this many rows per statement (32 and 64 measured alike).
MAX_ROWS = 64


def insert_many(db: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """Apply ``statement``, an insert of one row ending with its ``VALUES (?, ...)``, to each of
    ``rows`` (all as wide as it), in order: as many rows per statement as fit, the rest one by
    one."""
    width = len(rows[0])
    per = min(MAX_ROWS, MAX_VARIABLES // width)
    whole = len(rows) - len(rows) % per if per > 1 else 0
    if whole:
        many = _statement_of(statement, per)
        for start in range(0, whole, per):
            db.execute(many, list(chain.from_iterable(rows[start : start + per])))
    if whole < len(rows):
        db.executemany(statement, rows[whole:])


@functools.lru_cache(maxsize=32)
def _statement_of(statement: str, rows: int) -> str:
    """``statement`` with ``rows`` groups of values instead of one."""
    head, marker, values = statement.rpartition(" VALUES ")
    if not marker or not (values.startswith("(") and values.endswith(")")):
        raise ValueError(f"not an insert ending with its values: {statement!r}")
    return f"{head} VALUES {', '.join([values] * rows)}"
