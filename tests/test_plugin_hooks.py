"""The typed caller: one method per hookspec, the only way flowhook calls a hook, isolated."""

from __future__ import annotations

import ast
import inspect
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from click.testing import CliRunner

from flowhook import hookimpl
from flowhook._engine.transitions import (
    EVENT_BY_TYPE,
    FLOW,
    FLOW_ENTERED_HOOKS,
    TASK,
    TASK_ENTERED_HOOKS,
)
from flowhook._plugins import PluginHooks
from flowhook.cli import build_cli
from flowhook.notifications import notifier_types
from flowhook.testing import HookRecorder, PluginManager
from flowhook_hookspec.notify import Notifier
from flowhook_hookspec.specs import (
    ALL_SPECS,
    TRANSITION_SPECS,
    FlowRunSpecs,
    TaskRunSpecs,
    hook_names,
)

SOURCE = Path(__file__).resolve().parent.parent / "src" / "flowhook"


def spec_methods(*specs: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(getattr(spec, name))
        for spec in specs or ALL_SPECS
        for name in hook_names(spec)
    }


def test_the_contract_declares_the_17_hooks_once() -> None:
    names = hook_names()
    assert len(names) == len(set(names)) == 17
    assert names == hook_names(*ALL_SPECS)
    assert hook_names(TRANSITION_SPECS["flow"]) == hook_names(FlowRunSpecs)
    assert len(hook_names(FlowRunSpecs, TaskRunSpecs)) == 14


def test_the_transition_tables_fire_the_contracts_hooks_and_nothing_else() -> None:
    for kind, specs in ((FLOW, FlowRunSpecs), (TASK, TaskRunSpecs)):
        assert kind.plugin_hooks == set(hook_names(specs))
    for table, subject in ((FLOW_ENTERED_HOOKS, "flow"), (TASK_ENTERED_HOOKS, "task")):
        assert set(table) == set(EVENT_BY_TYPE.values())
        for event, method in table.items():
            assert method.__name__ == f"on_{subject}_run_{event}"
            assert method.__name__ in hook_names(TRANSITION_SPECS[subject])


def test_the_test_recorder_implements_every_transition_hook_with_its_arguments() -> None:
    implemented = {
        name: inspect.signature(function)
        for name, function in vars(HookRecorder).items()
        if hasattr(function, "flowhook_impl")
    }
    assert implemented == spec_methods(FlowRunSpecs, TaskRunSpecs)


def test_the_typed_caller_has_one_method_per_hookspec_with_its_arguments() -> None:
    methods = {
        name: inspect.signature(function)
        for name, function in vars(PluginHooks).items()
        if not name.startswith("_") and callable(function)
    }
    specs = spec_methods()
    assert set(methods) == set(specs)
    for name, spec in specs.items():
        if name in (
            "register_notifiers",
            "register_task_runners",
        ):  # each plugin its own register()
            assert list(methods[name].parameters) == ["self"]
            continue
        assert list(methods[name].parameters) == list(spec.parameters), name


def test_only_the_typed_caller_dispatches_to_pluggy() -> None:
    """No module but the caller's calls ``dispatch`` or pluggy's ``.hook`` relay."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("dispatch", "hook"):
                where = path.relative_to(SOURCE).as_posix()
                if where not in ("_plugins/hooks.py", "_plugins/manager.py"):
                    found.append(f"{where}:{node.lineno}: .{node.attr}")
    assert found == []


@attrs.define
class Pager(Notifier):
    block_type: ClassVar[str] = "pager"


def test_a_plugin_raising_in_register_notifiers_loses_only_its_own_types(
    plugin_manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            register(Pager)  # registered before it raises: dropped with the rest
            raise RuntimeError("the plugin's own bug")

    class Fine:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            @attrs.define
            class Siren(Notifier):
                block_type: ClassVar[str] = "siren"

            register(Siren)

    plugin_manager.register(Broken(), name="broken")
    plugin_manager.register(Fine(), name="fine")
    with caplog.at_level(logging.ERROR, logger="flowhook.hooks"):
        types = notifier_types()
    assert list(types) == ["siren"]
    assert "plugin 'broken' hook 'register_notifiers' raised RuntimeError" in caplog.text


def test_a_plugin_raising_in_register_commands_does_not_break_the_command_line(
    plugin_manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def register_commands(self, cli: Any) -> None:
            raise RuntimeError("no commands today")

    plugin_manager.register(Broken(), name="broken")
    with caplog.at_level(logging.ERROR, logger="flowhook.hooks"):
        result = CliRunner().invoke(build_cli(), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    assert "plugin 'broken' hook 'register_commands' raised RuntimeError" in caplog.text


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return set(output.split())


def test_importing_the_store_loads_neither_jinja_nor_the_notifications() -> None:
    loaded = _modules_after("import flowhook.store")
    assert "jinja2" not in loaded
    assert not {m for m in loaded if m.startswith("flowhook.notifications")}
    assert "flowhook._runtime.attach" not in loaded


def test_importing_flowhook_loads_no_store_notifications_click_or_jinja() -> None:
    loaded = _modules_after("import flowhook")
    unwanted = {"jinja2", "click", "sqlite3", "flowhook.store", "flowhook.notifications"}
    assert loaded.isdisjoint(unwanted)


def test_importing_flowhook_defers_what_only_an_error_or_a_timeout_needs() -> None:
    loaded = _modules_after("import flowhook")
    # did-you-mean hints (difflib), the config file (tomllib), the timeout watchdog (ctypes)
    # and typing-only helpers load when first used, not on import
    assert loaded.isdisjoint({"difflib", "tomllib", "ctypes", "typing_extensions"})
