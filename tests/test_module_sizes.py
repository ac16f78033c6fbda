"""Issue 23's sizes as a test: small modules, and short functions in the store.

Every module the project ships (the core, the contract, the testing package and the plugins)
stays under 400 lines; every function of the store is at most 60 lines. A module that grows
past either is split by what it does, not trimmed to fit.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [
    ROOT / "src",
    ROOT / "hookspec" / "src",
    ROOT / "testing" / "src",
    *sorted((ROOT / "plugins").glob("*/src")),
]
MAX_MODULE_LINES = 399
MAX_STORE_FUNCTION_LINES = 60


def _modules(*roots: Path) -> list[Path]:
    return sorted(path for root in roots for path in root.rglob("*.py"))


def test_the_scan_sees_every_shipped_package() -> None:
    names = {path.relative_to(ROOT).parts[0:2] for path in _modules(*SHIPPED)}
    assert ("src", "flowhook") in names
    assert ("hookspec", "src") in names
    assert ("plugins", "flowhook-slack") in names


def test_every_shipped_module_is_under_400_lines() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}: {count} lines"
        for path in _modules(*SHIPPED)
        if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not too_long, "split these modules by what they do:\n" + "\n".join(too_long)


def test_no_function_in_the_store_is_over_60_lines() -> None:
    too_long = []
    for path in _modules(ROOT / "src" / "flowhook" / "store"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_STORE_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length}")
    assert not too_long, "functions over 60 lines:\n" + "\n".join(too_long)
