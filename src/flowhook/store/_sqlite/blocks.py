"""Blocks: named notifier configurations, as JSON field values."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from .connection import SQLiteBase
from .rows import checked, json_value, layout

__all__ = ["SQLiteBlocks"]

_NAME_LAYOUT = layout("blocks", "block_type, name")
_DATA_LAYOUT = layout("blocks", "data")


def _data(row: tuple[Any, ...]) -> dict[str, Any]:
    data: dict[str, Any] = json_value(checked(row, _DATA_LAYOUT)[0], "blocks.data", (dict,))
    return data


def _name(row: tuple[Any, ...]) -> tuple[str, str]:
    block_type, name = checked(row, _NAME_LAYOUT)
    return block_type, name


class SQLiteBlocks(SQLiteBase):
    """The store's blocks."""

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
        found = self._records(
            _data, "SELECT data FROM blocks WHERE block_type = ? AND name = ?", (block_type, name)
        )
        return found[0] if found else None

    def list_blocks(self) -> list[tuple[str, str]]:
        return self._records(_name, "SELECT block_type, name FROM blocks ORDER BY block_type, name")

    def delete_block(self, block_type: str, name: str) -> bool:
        return self._write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM blocks WHERE block_type = ? AND name = ?", (block_type, name)
                ).rowcount
                == 1
            )
        )
