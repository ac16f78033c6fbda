"""The architecture as a test: every import of the project's source goes one way, down the layers.

Each module belongs to one layer; a layer may import only the layers it lists (see
docs/architecture.md). The scan reads every import statement, those inside functions and under
``TYPE_CHECKING`` included, and fails with ``file:line`` for each violation.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Layer of each module, by the longest matching prefix of its dotted name.
LAYER_OF_PREFIX = {
    "flowhook_hookspec": "contract",
    "flowhook._version": "foundation",
    "flowhook._config": "foundation",
    "flowhook._files": "foundation",
    "flowhook._plugins": "plugins",
    "flowhook._engine": "engine",
    "flowhook.states": "engine",
    "flowhook.tasks": "engine",
    "flowhook.flows": "engine",
    "flowhook.logging": "engine",
    "flowhook.context": "engine",
    "flowhook.exceptions": "engine",
    "flowhook.futures": "engine",
    "flowhook.task_runners": "engine",
    "flowhook.runtime": "engine",
    "flowhook.utilities": "engine",
    "flowhook.blocks": "facade",
    "flowhook.store": "store",
    "flowhook.notifications": "notifications",
    "flowhook._runtime": "runtime",
    "flowhook.views": "views",
    "flowhook.cli": "cli",
    "flowhook.ui": "ui",
    "flowhook.testing": "testing",
}
#: Modules whose layer is theirs alone, not their submodules'.
LAYER_OF_MODULE = {  # the public API: flowhook/__init__.py and the Prefect-style import paths
    "flowhook": "facade",
    "flowhook.transactions": "facade",
    "flowhook.cache_policies": "facade",
    "flowhook.results": "facade",
    "flowhook.flow_runs": "facade",
    "flowhook.serializers": "facade",
    "flowhook.filesystems": "facade",
    "flowhook.testing.utilities": "facade",
}

#: The layers each layer may import (its own always).
MAY_IMPORT = {
    "contract": set(),
    "foundation": {"contract"},
    "plugins": {"contract"},
    "engine": {"contract", "foundation", "plugins"},
    "store": {"contract", "foundation"},
    "notifications": {"contract", "foundation", "plugins", "store"},
    "runtime": {"contract", "foundation", "plugins", "engine", "store", "notifications"},
    # the read model: what the command line and the web UI show, from the store's protocol
    "views": {"contract", "foundation", "store", "notifications"},
    # the cli imports the ui only inside the ``flowhook ui`` command (it needs the ui extra)
    "cli": {
        "contract",
        "foundation",
        "plugins",
        "store",
        "notifications",
        "runtime",
        "views",
        "ui",
    },
    "ui": {"contract", "foundation", "plugins", "store", "notifications", "runtime", "views"},
    "facade": {"contract", "foundation", "plugins", "engine", "runtime", "notifications"},
    "testing": {"contract", "plugins"},
}

#: Third-party modules only some layers may import.
ONLY_IN = {
    "click": {"cli"},
    "rich": {"cli"},
    "jinja2": {"notifications", "ui"},
    "starlette": {"ui"},
    "uvicorn": {"ui"},
    "sqlite3": {"store"},
    "psycopg": {"store"},
    "psycopg_pool": {"store"},
}

SOURCES = {
    "flowhook": ROOT / "src" / "flowhook",
    "flowhook_hookspec": ROOT / "hookspec" / "src" / "flowhook_hookspec",
}


def module_name(path: Path, package_root: Path, package: str) -> str:
    parts = [package, *path.relative_to(package_root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    if module in LAYER_OF_MODULE:
        return LAYER_OF_MODULE[module]
    for prefix in sorted(LAYER_OF_PREFIX, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYER_OF_PREFIX[prefix]
    return None


def imports(path: Path, module: str) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, imported module, names imported from it) for every import in ``path``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                if not is_package:
                    package.pop()
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            yield node.lineno, base, tuple(alias.name for alias in node.names)


def private_owner(target: str) -> str | None:
    """The package a private module (``_name``, not a dunder) belongs to, or None."""
    parts = target.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


def violations(sources: dict[str, Path]) -> list[str]:
    files = {
        module_name(path, package_root, package): path
        for package, package_root in sources.items()
        for path in package_root.rglob("*.py")
    }
    found = []
    for module, path in sorted(files.items()):
        where = path.relative_to(ROOT)
        layer = layer_of(module)
        if layer is None:
            found.append(f"{where}:1: {module} belongs to no layer (see LAYER_OF_PREFIX)")
            continue
        for line, target, names in imports(path, module):
            found.extend(
                f"{where}:{line}: {problem}"
                for problem in _problems(module, layer, target, names, set(files))
            )
    return found


def _problems(
    module: str, layer: str, target: str, names: tuple[str, ...], modules: set[str]
) -> Iterator[str]:
    top = target.split(".")[0]
    if top in ONLY_IN and layer not in ONLY_IN[top]:
        yield f"{layer} module {module} imports {top} (only {sorted(ONLY_IN[top])} may)"
    if top not in ("flowhook", "flowhook_hookspec"):
        return
    # ``from flowhook import _engine`` imports a module: it is judged as ``flowhook._engine``.
    submodules = [f"{target}.{name}" for name in names if f"{target}.{name}" in modules]
    for full in submodules or [target]:
        target_layer = layer_of(full)
        if target_layer and target_layer != layer and target_layer not in MAY_IMPORT[layer]:
            yield f"{layer} module {module} imports {full} ({target_layer})"
        owner = private_owner(full)
        if owner and not (module == owner or module.startswith(owner + ".")):
            yield f"{module} imports {full}, private to {owner}"
    for name in names:
        private = name.startswith("_") and not name.startswith("__")
        if private and f"{target}.{name}" not in modules:
            yield f"{module} imports the private name {name} of {target}"


def test_every_import_goes_down_the_layers() -> None:
    assert violations(SOURCES) == []


@pytest.mark.parametrize(
    "plugin",
    [
        *sorted((ROOT / "plugins").glob("flowhook-*/src/*")),
        ROOT / "testing" / "src" / "flowhook_testing",
    ],
    ids=lambda path: path.name,
)
def test_plugin_distributions_import_only_the_contract(plugin: Path) -> None:
    """The notifier plugins import the contract only; the test servers import no flowhook."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: imports {target}"
        for path in sorted(plugin.rglob("*.py"))
        for line, target, _ in imports(path, module_name(path, plugin, plugin.name))
        if target.split(".")[0] == "flowhook"
    ]
    assert found == []


def _scan(tmp_path: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        path = tmp_path / "flowhook" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return [line.split(": ", 1)[1] for line in violations({"flowhook": tmp_path / "flowhook"})]


@pytest.fixture
def in_tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    return tmp_path


def test_the_scan_finds_an_upward_import_inside_a_function(in_tmp_root: Path) -> None:
    found = _scan(
        in_tmp_root,
        {
            "__init__.py": "",
            "_engine/__init__.py": "def f():\n    from ..store import open_store\n",
            "store/__init__.py": "",
        },
    )
    assert found == ["engine module flowhook._engine imports flowhook.store (store)"]


def test_the_scan_finds_click_jinja_and_private_names(in_tmp_root: Path) -> None:
    found = _scan(
        in_tmp_root,
        {
            "__init__.py": "",
            "store/__init__.py": "import click\n",
            "store/_sqlite.py": "",
            "_runtime/__init__.py": "from ..store._sqlite import x\nfrom ..store import _y\n",
            "notifications/__init__.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from .._runtime import z\n",
        },
    )
    assert sorted(found) == [
        "flowhook._runtime imports flowhook.store._sqlite, private to flowhook.store",
        "flowhook._runtime imports the private name _y of flowhook.store",
        "notifications module flowhook.notifications imports flowhook._runtime (runtime)",
        "store module flowhook.store imports click (only ['cli'] may)",
    ]


def test_a_module_outside_every_layer_is_a_violation(in_tmp_root: Path) -> None:
    found = _scan(in_tmp_root, {"__init__.py": "", "_misc/__init__.py": ""})
    assert found == ["flowhook._misc belongs to no layer (see LAYER_OF_PREFIX)"]


ARCHITECTURE = ROOT / "docs" / "architecture.md"


def test_the_architecture_page_names_every_layer_package() -> None:
    text = ARCHITECTURE.read_text()
    missing = [prefix for prefix in LAYER_OF_PREFIX if f"`{prefix}`" not in text]
    assert missing == []


def _all_source() -> str:
    return "".join(path.read_text() for path in sorted(SOURCES["flowhook"].rglob("*.py")))


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_every_name_on_the_architecture_page_exists() -> None:
    names = set(re.findall(r"`(flowhook[\w.]*)`", ARCHITECTURE.read_text()))
    names.discard("flowhook.block_savers")  # an entry-point group, checked below
    loggers = set(re.findall(r'getLogger\("([\w.]+)"\)', _all_source()))
    assert names and [n for n in sorted(names - loggers) if not _resolves(n)] == []
    groups = importlib.metadata.entry_points(group="flowhook.block_savers")
    assert [entry.value for entry in groups] == ["flowhook.notifications:save_block"]


def _layer_table() -> dict[str, tuple[set[str], set[str]]]:
    """The table of docs/architecture.md: each layer's packages and the layers it may import."""
    rows = re.findall(r"^\| (\w+) \| (.+?) \| (.+?) \|$", ARCHITECTURE.read_text(), re.M)
    return {
        layer: (
            set(re.findall(r"`(flowhook[\w.]*)`", packages)),
            {word for word in re.findall(r"\w+", may) if word in MAY_IMPORT},
        )
        for layer, packages, may in rows
        if layer != "layer"
    }


def test_the_architecture_pages_table_says_what_this_test_enforces() -> None:
    table = _layer_table()
    assert set(table) == set(MAY_IMPORT)
    assert {layer: may for layer, (_, may) in table.items()} == MAY_IMPORT
    where = {**LAYER_OF_PREFIX, **LAYER_OF_MODULE}
    misplaced = [name for name, layer in where.items() if name not in table[layer][0]]
    assert misplaced == []


def test_the_architecture_page_names_the_modules_only_some_layers_import() -> None:
    text = ARCHITECTURE.read_text().lower()
    assert [name for name in ONLY_IN if name.rstrip("2") not in text] == []
