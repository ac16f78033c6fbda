"""Documentation that cannot drift from the code (after datasette's test_docs)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from flowhook_hookspec.specs import ALL_SPECS

ROOT = Path(__file__).resolve().parents[1]
HOOKS = {
    name: function
    for specs in ALL_SPECS
    for name, function in vars(specs).items()
    if not name.startswith("_") and callable(function)
}


def signature_of(function) -> str:
    parameters = list(inspect.signature(function).parameters)[1:]  # drop self
    return f"{function.__name__}({', '.join(parameters)})"


def test_every_hook_has_a_docstring() -> None:
    for name, function in HOOKS.items():
        assert function.__doc__ and len(function.__doc__.strip()) > 20, name


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_documented_with_its_exact_signature(name) -> None:
    reference = (ROOT / "docs" / "hookspecs.md").read_text()
    assert re.search(rf"^### {name}$", reference, re.MULTILINE), f"no heading for {name}"
    assert f"`{signature_of(HOOKS[name])}`" in reference


def test_the_reference_documents_no_hook_that_does_not_exist() -> None:
    reference = (ROOT / "docs" / "hookspecs.md").read_text()
    documented = set(re.findall(r"^### (\w+)$", reference, re.MULTILINE))
    assert documented == set(HOOKS)


def hook_test_sources() -> str:
    """The source of every ``test_hook_*`` function in the test suite."""
    sources = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_"):
                sources.append(ast.get_source_segment(text, node) or "")
    return "\n".join(sources)


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_has_a_test(name) -> None:
    sources = hook_test_sources()
    generic = name.replace("on_flow_run_", "on_{kind}_run_").replace(
        "on_task_run_", "on_{kind}_run_"
    )
    assert name in sources or generic in sources, f"no test_hook_* test exercises {name}"
