"""flowhook-dask: run flowhook task runs on Dask distributed.

Only the user's function goes to the workers; every state transition and every hook stays in
the flow's process::

    from flowhook import flow, task
    from flowhook_dask import DaskTaskRunner

    @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 2}))
    def pipeline(xs: list[int]) -> int:
        return sum(square.map(xs).result())

Installing this distribution also makes ``task_runner="dask"`` mean ``DaskTaskRunner()``.
"""

from __future__ import annotations

from collections.abc import Callable

from flowhook_hookspec import hookimpl
from flowhook_hookspec.runners import TaskRunner

from ._envelope import UnpicklableResult, should_stop
from ._runner import DaskTaskRunner

__version__ = "0.1.0"

__all__ = [
    "DaskTaskRunner",
    "UnpicklableResult",
    "__version__",
    "register_task_runners",
    "should_stop",
]


@hookimpl
def register_task_runners(register: Callable[[str, Callable[[], TaskRunner]], object]) -> None:
    """Make ``task_runner="dask"`` a new :class:`DaskTaskRunner` (an owned LocalCluster) per flow run."""
    register("dask", DaskTaskRunner)
