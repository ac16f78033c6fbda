from __future__ import annotations

from pathlib import Path

import pytest

from flowhook.testing import HookRecorder, PluginManager


@pytest.fixture(autouse=True)
def isolated(flowhook_home: Path, flowhook_plugins: PluginManager) -> None:
    """Every test gets its own FLOWHOOK_HOME and a fresh plugin manager (flowhook.testing's
    fixtures): never the user's history, never the plugins installed in the environment."""


@pytest.fixture
def plugin_manager(flowhook_plugins: PluginManager) -> PluginManager:
    return flowhook_plugins


@pytest.fixture
def recorder(flowhook_hook_recorder: HookRecorder) -> HookRecorder:
    """A registered plugin that records every transition hook call."""
    return flowhook_hook_recorder


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
