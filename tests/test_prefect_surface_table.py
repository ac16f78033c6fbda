"""The table of Prefect's public names in docs/prefect.md cannot lie (issue 24, item 3).

The list ``docs/prefect-names.csv`` holds every public name of the Prefect 3 modules a flow's
code imports (their ``__all__``, else the module's own top-level names; type variables and
module loggers left out), read from Prefect 3's source (``src/prefect/__init__.py``,
``src/prefect/tasks.py``, ``src/prefect/context.py``, ``src/prefect/runtime/*.py``,
``src/prefect/task_runners.py``, ``src/prefect/futures.py``, ``src/prefect/states.py``,
``src/prefect/cache_policies.py``, ``src/prefect/transactions.py``,
``src/prefect/exceptions.py``, ``src/prefect/logging/*.py``,
``src/prefect/utilities/annotations.py``, ``src/prefect/serializers.py``,
``src/prefect/filesystems.py``, ``src/prefect/testing/utilities.py``). These tests hold flowhook
to what it says, and ``import flowhook`` to loading none of those modules.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import prefect_names  # noqa: E402  (the generator lives with the docs)

ROWS = prefect_names.read_names()


def _row_id(row: dict[str, str]) -> str:
    return f"{row['module']}.{row['name']}"


def _lookup(row: dict[str, str]) -> Any:
    """The object flowhook has at the row's path; raises AttributeError or ImportError."""
    module = importlib.import_module(prefect_names.flowhook_module(row["module"]))
    return getattr(module, row["name"])


def test_the_page_holds_the_table_generated_from_the_list() -> None:
    page = prefect_names.PAGE.read_text()
    assert prefect_names.page_with_table(page, ROWS) == page, (
        "docs/prefect.md is out of date: run python docs/_ext/prefect_names.py"
    )


def test_the_list_is_well_formed() -> None:
    seen: set[tuple[str, str]] = set()
    for row in ROWS:
        key = (row["module"], row["name"])
        assert key not in seen, f"{key} is listed twice"
        seen.add(key)
        assert row["module"] == "prefect" or row["module"].startswith("prefect.")
        assert row["status"] in prefect_names.STATUSES, row
        assert row["note"].strip(), f"{_row_id(row)} needs a note: how, or why not"


@pytest.mark.parametrize(
    "row", [r for r in ROWS if r["status"] in {"same", "present"}], ids=_row_id
)
def test_every_name_said_present_is_importable(row: dict[str, str]) -> None:
    _lookup(row)  # raises if it is not there (a runtime attribute may be None outside a run)


@pytest.mark.parametrize(
    "row", [r for r in ROWS if r["status"] in {"absent", "pending"}], ids=_row_id
)
def test_every_name_said_absent_is_absent(row: dict[str, str]) -> None:
    with pytest.raises((AttributeError, ImportError)):
        _lookup(row)


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


@pytest.mark.parametrize("row", [r for r in ROWS if r["status"] == "same"], ids=_row_id)
def test_every_name_said_the_same_names_a_test_that_exists(row: dict[str, str]) -> None:
    file, _, function = row["note"].partition("::")
    path = ROOT / file
    assert path.is_file() and file.startswith("tests/"), f"{_row_id(row)}: no test file {file}"
    assert function in _test_functions(path), f"{_row_id(row)}: {file} has no {function}"


NEW_MODULES = (
    "flowhook.runtime",
    "flowhook.runtime.flow_run",
    "flowhook.runtime.task_run",
    "flowhook.utilities",
    "flowhook.utilities.annotations",
    "flowhook.serializers",
    "flowhook.filesystems",
    "flowhook.testing.utilities",
    "flowhook.logging",
    "flowhook.context",
    "flowhook.tasks",
    "flowhook.exceptions",
)


def test_import_flowhook_loads_none_of_the_prefect_path_modules() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import flowhook"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rpartition("|")[2].strip() for line in result.stderr.splitlines()}
    assert "flowhook" in imported
    assert imported.isdisjoint(NEW_MODULES), sorted(imported.intersection(NEW_MODULES))
