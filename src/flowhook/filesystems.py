"""File systems for results, where Prefect users import them: ``from flowhook.filesystems
import LocalFileSystem``; ``LocalFileSystem(basepath=...)`` is a ``result_storage=``."""

from ._engine.results import LocalFileSystem

__all__ = ["LocalFileSystem"]
