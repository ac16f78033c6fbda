"""Helpers for the store's tests: real database files, a real PostgreSQL server, real
subprocesses.

Every test here runs against both stores (``store_backend``: the SQLite file, then a fresh
database on the session's PostgreSQL server, selected through ``FLOWHOOK_STORE_URL`` as a user
would, so that subprocesses use it too), except those marked ``sqlite_only``: they read or
damage the SQLite file itself, and those marked ``postgres_only`` (tests/store/test_postgres.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import flowhook._runtime.attach
import flowhook.store
from flowhook.store import Store, open_store

BACKENDS = ("sqlite", "postgres")
#: The modules whose tests run with each writer (FLOWHOOK_STORE_WRITER): the thread, and the
#: writer process (used from the first write: FLOWHOOK_STORE_WRITER_WAIT=1).
WRITER_MODULES = {
    "test_store_faults",
    "test_store_hand_over",
    "test_postgres_faults",
    "test_store_crashes",
    "test_store_batches",
    "test_run_logs",
    "test_store_history",
    "test_store_held_runs",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marked = metafunc.definition.get_closest_marker
    if "store_backend" in metafunc.fixturenames:
        backends = (
            BACKENDS[:1]
            if marked("sqlite_only")
            else BACKENDS[1:]
            if marked("postgres_only")
            else BACKENDS
        )
        metafunc.parametrize("store_backend", backends, indirect=True)
    in_writer_modules = metafunc.module.__name__.rpartition(".")[2] in WRITER_MODULES
    if (
        "store_writer" in metafunc.fixturenames
        and in_writer_modules
        and not marked("thread_writer")
    ):
        metafunc.parametrize("store_writer", ("thread", "process"), indirect=True)


@pytest.fixture(autouse=True)
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which store the test runs against; for PostgreSQL, a new database per test."""
    backend: str = request.param
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("FLOWHOOK_STORE_URL", url)
        monkeypatch.setenv("FLOWHOOK_STORE_AUTO_MIGRATE", "1")
    return backend


@pytest.fixture(autouse=True)
def store_writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which writer the test's processes use (only the modules of WRITER_MODULES try both)."""
    writer: str = getattr(request, "param", "thread")
    monkeypatch.setenv("FLOWHOOK_STORE_WRITER", writer)
    monkeypatch.setenv("FLOWHOOK_STORE_WRITER_WAIT", "1")
    return writer


@pytest.fixture(autouse=True)
def detached(store_backend: str) -> Iterator[None]:
    """Each test ends with the store detached: threads stopped, database closed; before its
    PostgreSQL database is dropped (a writer left attached would wait for it in vain)."""
    yield
    flowhook._runtime.attach.detach()


@pytest.fixture
def store(flowhook_home: Path, store_backend: str) -> Iterator[Store]:
    opened = open_store()
    yield opened
    opened.close()


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    """A directory for modules and plugins, on the subprocesses' PYTHONPATH."""
    root = tmp_path / "modules"
    root.mkdir()
    return root
