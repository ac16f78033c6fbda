from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_server import PostgresServer, start_server

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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session (see tests/postgres_server.py).

    Skipped, with the reason, only where no server can be installed; never in CI, where a
    missing server is an error (``make test-tools`` installs it).
    """
    try:
        server = start_server()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        if os.environ.get("CI"):
            pytest.fail(f"cannot start PostgreSQL for the tests: {detail}")
        pytest.skip(f"cannot start PostgreSQL for the tests: {detail}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database on the session's server, dropped after the test."""
    url = postgres_server.new_database()
    yield url
    postgres_server.drop_database(url)
