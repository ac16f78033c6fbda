"""Blocks: named notifier configurations, as JSON field values."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from .connection import SQLiteBase

__all__ = ["SQLiteBlocks"]


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
