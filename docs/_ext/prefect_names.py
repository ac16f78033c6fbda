"""The table of Prefect's public names in ``docs/prefect.md``, generated from
``docs/prefect-names.csv``: run ``python docs/_ext/prefect_names.py`` after editing the list.

Each row of the list is ``module,name,status,note``: ``same`` (the note is the test that shows
it, ``tests/<file>.py::<test>``), ``present`` (the note says how it differs or where it is
documented), ``absent`` (the note says why) or ``pending`` (another part of the work adds it).
tests/test_prefect_surface_table.py checks the list against flowhook and the page against it.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
NAMES = DOCS / "prefect-names.csv"
PAGE = DOCS / "prefect.md"
START = "<!-- prefect-names: generated from docs/prefect-names.csv; do not edit by hand -->"
END = "<!-- prefect-names: end -->"
STATUSES = {"same": "the same", "present": "present", "absent": "absent", "pending": "absent"}


def read_names(path: Path = NAMES) -> list[dict[str, str]]:
    """The rows of the list, in its order."""
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def flowhook_module(prefect_module: str) -> str:
    """``prefect.x`` is ``flowhook.x``."""
    return "flowhook" + prefect_module[len("prefect") :]


def _cell(row: dict[str, str]) -> str:
    if row["status"] == "same":
        return f"tested by `{row['note'].rpartition('::')[2]}`"
    return row["note"].replace("|", "\\|")


def render(rows: list[dict[str, str]]) -> str:
    """The Markdown between the markers: one table per module, in the list's order."""
    by_module: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_module.setdefault(row["module"], []).append(row)
    parts = [START]
    for module, module_rows in by_module.items():
        parts += [
            "",
            f"### `{module}` → `{flowhook_module(module)}`",
            "",
            "| name | in flowhook | how, or why not |",
            "|---|---|---|",
        ]
        parts += [
            f"| `{row['name']}` | {STATUSES[row['status']]} | {_cell(row)} |" for row in module_rows
        ]
    parts += ["", END]
    return "\n".join(parts)


def page_with_table(page: str, rows: list[dict[str, str]]) -> str:
    """``page`` with the text between the markers replaced by :func:`render`."""
    before, found, rest = page.partition(START)
    if not found:
        raise SystemExit(f"{PAGE} has no line {START!r} to put the table after")
    _, found, after = rest.partition(END)
    if not found:
        raise SystemExit(f"{PAGE} has no line {END!r} after the table")
    return before + render(rows) + after


if __name__ == "__main__":
    PAGE.write_text(page_with_table(PAGE.read_text(), read_names()))
    sys.stdout.write(f"wrote the table of {NAMES.name} into {PAGE}\n")
