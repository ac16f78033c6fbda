"""Blocks: named notifier configurations, as JSON field values (the same SQL on both stores)."""

from __future__ import annotations

import json
import time
from typing import Any

from . import SQLStore
from .records import checked, json_value, layout

__all__ = ["Blocks"]

_NAME_LAYOUT = layout("blocks", "block_type, name")
_DATA_LAYOUT = layout("blocks", "data")
_SAVE = (
    "INSERT INTO blocks (block_type, name, data, created, updated) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (block_type, name) "
)
_OVERWRITE = "DO UPDATE SET data = excluded.data, updated = excluded.updated"
_NAMED = "WHERE block_type = ? AND name = ?"


def _data(row: tuple[Any, ...]) -> dict[str, Any]:
    data: dict[str, Any] = json_value(checked(row, _DATA_LAYOUT)[0], "blocks.data", (dict,))
    return data


def _name(row: tuple[Any, ...]) -> tuple[str, str]:
    block_type, name = checked(row, _NAME_LAYOUT)
    return block_type, name


class Blocks(SQLStore):
    """The store's blocks."""

    def save_block(
        self, block_type: str, name: str, data: dict[str, Any], *, overwrite: bool = False
    ) -> bool:
        """Save a block's field values; False when it exists and ``overwrite`` is false."""
        now = time.time()
        saved = self._change(
            _SAVE + (_OVERWRITE if overwrite else "DO NOTHING"),
            (block_type, name, json.dumps(data), now, now),
        )
        return overwrite or saved == 1

    def load_block(self, block_type: str, name: str) -> dict[str, Any] | None:
        found = self._records(_data, f"SELECT data FROM blocks {_NAMED}", (block_type, name))
        return found[0] if found else None

    def list_blocks(self) -> list[tuple[str, str]]:
        return self._records(
            _name,
            f"SELECT block_type, name FROM blocks ORDER BY block_type{self.dialect.binary}, "
            f"name{self.dialect.binary}",
        )

    def delete_block(self, block_type: str, name: str) -> bool:
        return self._change(f"DELETE FROM blocks {_NAMED}", (block_type, name)) == 1
