"""How the commands print: tables of left-aligned columns, and strict JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

__all__ = ["echo_json", "table"]


def echo_json(value: Any) -> None:
    """Print ``value`` as strict JSON (RFC 8259): see :func:`flowhook.views.strict_json`."""
    from ..views import strict_json  # the JSON forms: only when printing JSON

    click.echo(json.dumps(strict_json(value), indent=2, allow_nan=False))


def table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Left-aligned columns; the last column is not padded."""
    if not rows:
        return []
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    return [
        indent
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + ("  " if widths else "")
        + row[-1]
        for row in rows
    ]
