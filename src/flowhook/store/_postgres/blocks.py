"""Blocks: named notifier configurations, as JSON field values."""

from __future__ import annotations

import json
import time
from typing import Any

from .._sqlite.rows import checked, json_value, layout
from .connection import Cursor, PostgresBase

__all__ = ["PostgresBlocks"]

_NAME_LAYOUT = layout("blocks", "block_type, name")
_DATA_LAYOUT = layout("blocks", "data")


def _data(row: tuple[Any, ...]) -> dict[str, Any]:
    data: dict[str, Any] = json_value(checked(row, _DATA_LAYOUT)[0], "blocks.data", (dict,))
    return data


def _name(row: tuple[Any, ...]) -> tuple[str, str]:
    block_type, name = checked(row, _NAME_LAYOUT)
    return block_type, name


class PostgresBlocks(PostgresBase):
    """The store's blocks."""

    def save_block(
        self, block_type: str, name: str, data: dict[str, Any], *, overwrite: bool = False
    ) -> bool:
        """Save a block's field values; False when it exists and ``overwrite`` is false."""
        now = time.time()
        text = json.dumps(data)
        on_conflict = (
            "DO UPDATE SET data = excluded.data, updated = excluded.updated"
            if overwrite
            else "DO NOTHING"
        )

        def save(cur: Cursor) -> bool:
            cur.execute(
                "INSERT INTO blocks (block_type, name, data, created, updated) "
                f"VALUES (%s, %s, %s, %s, %s) ON CONFLICT (block_type, name) {on_conflict}",
                (block_type, name, text, now, now),
            )
            return overwrite or cur.rowcount == 1

        return self._write(save)

    def load_block(self, block_type: str, name: str) -> dict[str, Any] | None:
        found = self._records(
            _data,
            "SELECT data FROM blocks WHERE block_type = %s AND name = %s",
            (block_type, name),
        )
        return found[0] if found else None

    def list_blocks(self) -> list[tuple[str, str]]:
        return self._records(
            _name,
            'SELECT block_type, name FROM blocks ORDER BY block_type COLLATE "C", name COLLATE "C"',
        )

    def delete_block(self, block_type: str, name: str) -> bool:
        def delete(cur: Cursor) -> bool:
            cur.execute(
                "DELETE FROM blocks WHERE block_type = %s AND name = %s", (block_type, name)
            )
            return cur.rowcount == 1

        return self._write(delete)
