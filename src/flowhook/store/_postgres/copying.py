"""A batch's many rows into PostgreSQL: one binary ``COPY`` straight into their table.

Binary, with each column's type declared (read once from the table itself), so that psycopg
packs floats and integers in C instead of writing them out as text, and the server does not
parse them back. Straight into the table, because a staging table cost the server a second
write of every row and an ``INSERT ... SELECT`` with its ``ON CONFLICT`` check per row.

``COPY`` has no ``ON CONFLICT``: rows whose insert skips a taken key (runs) are copied under
a savepoint, and only when one of them is taken (a run written before, which a replay without
a batch key can bring) is the copy rolled back and the rows staged in a temporary table, then
inserted from it with the insert's own ``ON CONFLICT`` clause, in their order.
"""

from __future__ import annotations

from typing import Any

import psycopg

from .._sql import Into

__all__ = ["ColumnTypes", "copy_rows"]

#: The type (oid) of each column a table is copied with, by table and columns (``flowhook
#: store copy`` copies the columns both stores have), read once per store; None for columns
#: copied as text (one of another type than :data:`_BINARY`'s).
ColumnTypes = dict[tuple[str, str], list[int] | None]
#: The column types whose binary form psycopg writes from the Python values a row holds (a
#: ``json`` column, say, would get a ``str`` written as a JSON string: text lets the server
#: parse it).
_BINARY = frozenset(
    psycopg.postgres.types[name].oid
    for name in ("text", "varchar", "float8", "int8", "int4", "int2", "bool")
)


def copy_rows(db: Any, rows: list[Any], into: Into, types: ColumnTypes) -> None:
    """Insert ``rows`` as ``into`` names (table, columns, the insert's ending) in the
    transaction of the cursor ``db``, in their order."""
    table, columns, ending = into
    if (table, columns) not in types:
        db.execute(f"SELECT {columns} FROM {table} LIMIT 0")
        found = [column.type_code for column in db.description]
        types[table, columns] = found if _BINARY.issuperset(found) else None
    oids = types[table, columns]
    if not ending:  # a plain insert: nothing to skip
        _copy(db, table, columns, oids, rows)
        return
    try:
        with db.connection.transaction():  # a savepoint
            _copy(db, table, columns, oids, rows)
        return
    except psycopg.errors.UniqueViolation:
        pass  # a row's key is taken: the insert's ending decides, as for one row
    staged = f"batch_{table}"
    # Made by the transaction (a rollback takes it back), emptied by its commit.
    db.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} ON COMMIT DELETE ROWS AS "
        f"SELECT {columns} FROM {table} WITH NO DATA"
    )
    _copy(db, staged, columns, oids, rows)
    db.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staged}{ending}")


def _copy(db: Any, table: str, columns: str, oids: list[int] | None, rows: list[Any]) -> None:
    binary = "" if oids is None else " (FORMAT BINARY)"
    with db.copy(f"COPY {table} ({columns}) FROM STDIN{binary}") as copy:
        if oids is not None:
            copy.set_types(oids)
        write = copy.write_row
        for row in rows:
            write(row)
