from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowhook.plugins import PluginManager, set_plugin_manager
from flowhook.testing.recorder import HookRecorder


@pytest.fixture(autouse=True)
def flowhook_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test runs with its own FLOWHOOK_HOME, never the user's ~/.flowhook."""
    home = tmp_path_factory.mktemp("flowhook-home")
    monkeypatch.setenv("FLOWHOOK_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def plugin_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginManager]:
    """Every test gets a fresh plugin manager that does not load installed entry points."""
    monkeypatch.delenv("FLOWHOOK_STRICT_HOOKS", raising=False)
    monkeypatch.delenv("FLOWHOOK_DISABLE_PLUGINS", raising=False)
    manager = PluginManager(load_entrypoints=False)
    previous = set_plugin_manager(manager)
    yield manager
    set_plugin_manager(previous)


@pytest.fixture
def recorder(plugin_manager: PluginManager) -> HookRecorder:
    """A registered plugin that records every transition hook call."""
    recorder = HookRecorder()
    plugin_manager.register(recorder, name="recorder")
    return recorder


class Calls(list):  # type: ignore[type-arg]
    """Collects what per-run hooks received: ``calls.hook("name")`` makes a recording hook."""

    def hook(self, label: str):  # type: ignore[no-untyped-def]
        def record(owner, run, state):  # type: ignore[no-untyped-def]
            self.append((label, state.name, run.run_count))

        record.__name__ = label
        return record


@pytest.fixture
def calls() -> Calls:
    return Calls()
