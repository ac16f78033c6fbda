"""Task runners: where submitted task runs execute. The thread pool is the default."""

from __future__ import annotations

from collections.abc import Callable

from flowhook_hookspec.errors import PluginError
from flowhook_hookspec.runners import LocalThreadsRunner, TaskRunner

from .._plugins.manager import plugin_hooks

__all__ = ["TaskRunner", "ThreadPoolTaskRunner", "new_task_runner", "task_runner_names"]


class ThreadPoolTaskRunner(LocalThreadsRunner):
    """Runs task runs in a pool of threads, created on first use.

    ``max_workers=None`` lets the pool choose (``min(32, cpus + 4)``). Suits I/O-bound tasks;
    CPU-bound pure Python gains nothing from threads.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"max_workers takes a whole number >= 1 or None, got {max_workers!r}")
        self.max_workers = max_workers
        super().__init__("flowhook-task", max_workers)

    def __repr__(self) -> str:
        return f"ThreadPoolTaskRunner(max_workers={self.max_workers!r})"


assert isinstance(ThreadPoolTaskRunner(), TaskRunner)


def _process_pool() -> TaskRunner:
    from .process_runner import ProcessPoolTaskRunner  # on use: ``import flowhook`` stays lean

    return ProcessPoolTaskRunner()


_BUILT_IN: dict[str, Callable[[], TaskRunner]] = {
    "process_pool": _process_pool,
    "thread_pool": ThreadPoolTaskRunner,
}


def _registered_runners() -> dict[str, tuple[str, Callable[[], TaskRunner]]]:
    """Every task runner name: the built-in ones and the plugins' (name -> (plugin, factory))."""
    found = {name: ("flowhook", factory) for name, factory in _BUILT_IN.items()}
    registered, pending = plugin_hooks().register_task_runners()
    if pending is not None:
        raise pending
    for plugin, pairs in registered.items():
        for name, factory in pairs:
            if name in found:
                first, second = sorted((found[name][0], plugin))
                raise PluginError(
                    f"plugins {first!r} and {second!r} both register the task runner "
                    f"{name!r}; uninstall or disable one of them"
                )
            found[name] = (plugin, factory)
    return found


def task_runner_names() -> list[str]:
    """The names ``task_runner="..."`` accepts, sorted."""
    return sorted(_registered_runners())


def new_task_runner(name: str) -> TaskRunner:
    """A new task runner of the type registered as ``name`` (``ValueError`` if none is)."""
    runners = _registered_runners()
    if name not in runners:
        from .._config import did_you_mean  # only on the error path: it loads tomllib

        raise ValueError(
            f"no task runner is named {name!r}{did_you_mean(name, runners) or '.'} Known task "
            f"runners: {', '.join(sorted(runners))}; plugins add more (pip install flowhook-dask "
            "for 'dask')"
        )
    plugin, factory = runners[name]
    runner = factory()
    if not isinstance(runner, TaskRunner):
        raise PluginError(
            f"the task runner {name!r} of plugin {plugin!r} made a {type(runner).__name__}, "
            "which is not a task runner (submit, wait, cancel_all, shutdown)"
        )
    return runner
