"""``import flowhook`` loads what ``@flow`` and ``@task`` need and nothing more (issue 26): every
other public name loads with its module on first use, and the first run loads the rest.

Each check runs in a fresh interpreter, where nothing has been imported yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import pytest

import flowhook
import flowhook_hookspec
from flowhook import _engine
from flowhook_hookspec.lazy import defer_modules, lazy_names

#: What ``import flowhook`` leaves for the first run, the first plugin or the first use.
DEFERRED = (
    "flowhook._engine.calls",
    "flowhook._engine.attempts",
    "flowhook._engine.bodies",
    "flowhook._engine.outcomes",
    "flowhook._engine.transitions",
    "flowhook._engine.futures",
    "flowhook._engine.submission",
    "flowhook._engine.context",
    "flowhook._engine.logs",
    "flowhook._engine.runners",
    "flowhook._engine.transactions",
    "flowhook._plugins",
    "flowhook.states",
    "flowhook_hookspec.notify",
    "flowhook_hookspec.runners",
    "flowhook_hookspec.runs",
    "flowhook_hookspec.specs",
    "flowhook_hookspec.states",
    "pluggy",
    "concurrent.futures",
    "logging",
    "uuid",
    "random",
    "string",
)


def _fresh(code: str, home: str | None = None) -> str:
    env = dict(os.environ)
    if home is not None:
        env["FLOWHOOK_HOME"] = home
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _loaded_after(statement: str, names: tuple[str, ...] = DEFERRED) -> list[str]:
    code = f"import sys\n{statement}\nprint(sorted(m for m in {list(names)!r} if m in sys.modules))"
    return list(json.loads(_fresh(code).replace("'", '"')))


def test_import_flowhook_loads_none_of_what_only_a_run_needs() -> None:
    assert _loaded_after("import flowhook") == []


def test_defining_a_flow_and_a_task_loads_none_of_it_either() -> None:
    statement = (
        "from flowhook import flow, task\n"
        "@task(retries=1, task_run_name='add-{x}')\n"
        "def add(x: int) -> int:\n"
        "    return x + 1\n"
        "@flow(flow_run_name='trivial')\n"
        "def trivial() -> int:\n"
        "    return add(1)\n"
    )
    assert _loaded_after(statement, tuple(m for m in DEFERRED if m != "string")) == []


def test_the_first_run_loads_the_machinery_and_runs(tmp_path) -> None:
    code = (
        "import sys\n"
        "from flowhook import flow, task\n"
        "@task\n"
        "def add(x: int) -> int:\n"
        "    return x + 1\n"
        "@flow\n"
        "def trivial() -> int:\n"
        "    return add(1) + add.submit(2).result()\n"
        "state = trivial(return_state=True)\n"
        "print(state.type.value, state.result())\n"
        "print(all(m in sys.modules for m in ('flowhook._engine.calls', 'pluggy')))\n"
    )
    assert _fresh(code, home=str(tmp_path)).split() == ["COMPLETED", "5", "True"]


@pytest.mark.parametrize(
    "package", ["flowhook", "flowhook_hookspec", "flowhook._engine", "flowhook.store"]
)
def test_every_public_name_imports_in_a_fresh_interpreter(package: str) -> None:
    """``from package import name`` works for each name of ``__all__``, gives the object its
    module defines, and ``dir()`` lists every name before it is loaded."""
    code = (
        f"import importlib, {package} as package\n"
        "listed = set(dir(package))\n"
        "missing = [name for name in package.__all__ if name not in listed]\n"
        "for name in package.__all__:\n"
        f"    exec(f'from {package} import {{name}}')\n"
        "    assert getattr(package, name) is not None, name\n"
        "print(missing)\n"
    )
    assert _fresh(code).strip() == "[]"


def test_star_import_gives_every_public_name() -> None:
    code = (
        "from flowhook import *\n"
        "import flowhook\n"
        "print(sorted(n for n in flowhook.__all__ if n not in globals()))\n"
    )
    assert _fresh(code).strip() == "[]"


def test_lazy_names_are_the_objects_of_their_modules() -> None:
    from flowhook._engine.futures import TaskRunFuture
    from flowhook._plugins import list_plugins
    from flowhook_hookspec.runners import TaskRunner
    from flowhook_hookspec.states import State

    assert flowhook.State is State is flowhook_hookspec.State
    assert flowhook.TaskRunner is TaskRunner
    assert flowhook.TaskRunFuture is TaskRunFuture is _engine.TaskRunFuture
    assert flowhook.list_plugins is list_plugins
    assert isinstance(flowhook.states, types.ModuleType)
    assert flowhook.states.Completed().type.value == "COMPLETED"


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="module 'flowhook' has no attribute 'flwo'"):
        _ = flowhook.flwo  # type: ignore[attr-defined]
    with pytest.raises(ImportError, match="cannot import name 'Stat'"):
        from flowhook_hookspec import Stat  # type: ignore[attr-defined]  # noqa: F401


def test_lazy_names_loads_once_and_keeps_the_value_on_the_package() -> None:
    package = types.ModuleType("lazy_test_package")
    sys.modules[package.__name__] = package
    try:
        getter, lister = lazy_names(package.__name__, {"dumps": "json:dumps", "js": "json"})
        assert lister() == sorted({*vars(package), "dumps", "js"})
        assert getter("dumps") is json.dumps
        assert vars(package)["dumps"] is json.dumps  # later lookups never reach the getter
        assert getter("js") is json
        with pytest.raises(AttributeError, match="'lazy_test_package' has no attribute 'x'"):
            getter("x")
    finally:
        del sys.modules[package.__name__]


def test_a_deferred_module_becomes_the_module_on_first_use() -> None:
    namespace: dict[str, object] = {}
    defer_modules(namespace, "json", ".lazy", package="flowhook_hookspec")
    assert not isinstance(namespace["json"], types.ModuleType)
    assert namespace["json"].dumps([1]) == "[1]"  # type: ignore[attr-defined]
    assert namespace["json"] is json
    assert namespace["lazy"].lazy_names is lazy_names  # type: ignore[attr-defined]
    assert namespace["lazy"] is sys.modules["flowhook_hookspec.lazy"]


def test_the_store_exports_every_record_of_its_details_module() -> None:
    """``flowhook.store`` lists the names of ``_details`` without loading it: the two agree."""
    import flowhook.store
    from flowhook.store import _details

    assert set(_details.__all__) <= set(flowhook.store.__all__)
    assert all(
        getattr(flowhook.store, name) is getattr(_details, name) for name in _details.__all__
    )
