"""Where the default result storage lives: the runtime says (``$FLOWHOOK_HOME/results``).

A module of its own so that the runtime can set it at ``import flowhook`` without importing
the result storages and serializers, which only a task that keeps results needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from .results import ResultStorage

__all__ = ["default_storage", "set_default_directory"]

_default_directory: list[Callable[[], Path]] = []


def set_default_directory(directory: Callable[[], Path]) -> None:
    """Where the default storage keeps records."""
    _default_directory[:] = [directory]


def default_storage() -> ResultStorage:
    """The storage of a task or transaction that names none: a directory under ``$FLOWHOOK_HOME``."""
    from .results import LocalFileSystem

    if not _default_directory:
        raise RuntimeError("the runtime has not set the default result directory")
    return LocalFileSystem(_default_directory[0]())
