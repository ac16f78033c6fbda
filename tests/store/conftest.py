"""Helpers for the store's tests: real database files, real subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import flowhook._runtime.attach
import flowhook.store
from flowhook.store import SQLiteStore, open_store


@pytest.fixture(autouse=True)
def detached() -> Iterator[None]:
    """Each test ends with the store detached: threads stopped, database closed."""
    yield
    flowhook._runtime.attach.detach()


@pytest.fixture
def store(flowhook_home: Path) -> Iterator[SQLiteStore]:
    opened = open_store()
    assert isinstance(opened, SQLiteStore)
    yield opened
    opened.close()


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    """A directory for modules and plugins, on the subprocesses' PYTHONPATH."""
    root = tmp_path / "modules"
    root.mkdir()
    return root
