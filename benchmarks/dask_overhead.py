"""flowhook on Dask against Dask alone, and against the thread pool, in one run.

    .venv/bin/python benchmarks/dask_overhead.py [--trivial 1000] [--cpu 200] [--cpu-ms 50]

1. ``--trivial`` tasks that return their argument, mapped on a 2-worker LocalCluster through
   flowhook (``DaskTaskRunner(cluster=...)``), against the same function through
   ``client.map`` + ``client.gather`` on the same cluster. Target: at most 1.5x.
2. ``--cpu`` tasks of ``--cpu-ms`` of pure-Python work (the GIL held) on the 2 workers, against
   flowhook's thread pool in one process. Target: at most 0.6x.

Each figure is the median of three runs after one warm-up; the store is off (FLOWHOOK_STORE=off)
so that only the runner is measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("FLOWHOOK_STORE", "off")

from distributed import Client, LocalCluster
from flowhook_dask import DaskTaskRunner

from flowhook import ThreadPoolTaskRunner, flow, task


def identity(x: int) -> int:
    return x


def burn(ms: float) -> int:
    """Pure-Python work for about ``ms`` milliseconds of one core."""
    deadline = time.thread_time() + ms / 1000
    n = 0
    while time.thread_time() < deadline:
        n += 1
    return n


def median_time(run: Callable[[], object], repeats: int = 3) -> float:
    run()  # warm-up: imports, pickled functions cached on the workers
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trivial", type=int, default=1000)
    parser.add_argument("--cpu", type=int, default=200)
    parser.add_argument("--cpu-ms", type=float, default=50.0)
    options = parser.parse_args()

    identity_task = task(identity)
    burn_task = task(burn)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):

        def raw() -> object:
            return client.gather(client.map(identity, range(options.trivial), pure=False))

        @flow(task_runner=DaskTaskRunner(cluster=cluster))
        def through_flowhook() -> object:
            return [f.result() for f in identity_task.map(range(options.trivial))]

        @flow(task_runner=DaskTaskRunner(cluster=cluster))
        def cpu_on_dask() -> object:
            return [f.result() for f in burn_task.map([options.cpu_ms] * options.cpu)]

        @flow(task_runner=ThreadPoolTaskRunner())
        def cpu_on_threads() -> object:
            return [f.result() for f in burn_task.map([options.cpu_ms] * options.cpu)]

        dask_alone = median_time(raw)
        flowhook_dask = median_time(through_flowhook)
        on_dask = median_time(cpu_on_dask)
        on_threads = median_time(cpu_on_threads)

    print(f"{options.trivial} trivial tasks on 2 workers:")
    print(f"  client.map + gather   {dask_alone:8.3f} s")
    print(
        f"  flowhook DaskTaskRunner {flowhook_dask:6.3f} s  = {flowhook_dask / dask_alone:.2f}x (target <= 1.5x)"
    )
    print(f"{options.cpu} tasks of {options.cpu_ms:g} ms CPU (GIL held):")
    print(f"  thread pool           {on_threads:8.3f} s")
    print(
        f"  DaskTaskRunner        {on_dask:8.3f} s  = {on_dask / on_threads:.2f}x (target <= 0.6x)"
    )


if __name__ == "__main__":
    main()
