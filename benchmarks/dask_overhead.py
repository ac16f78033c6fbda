"""flowhook on Dask against Dask alone, and against the thread pool, in one run.

    .venv/bin/python benchmarks/dask_overhead.py [--trivial 1000] [--cpu 200] [--cpu-ms 50]

1. ``--trivial`` tasks that return their argument, mapped on a 2-worker LocalCluster through
   flowhook (``DaskTaskRunner(cluster=...)``), against the same function through
   ``client.map`` + ``client.gather`` on the same cluster. Target: at most 1.5x.
2. ``--cpu`` tasks of ``--cpu-ms`` of pure-Python work (the GIL held) on the 2 workers, against
   flowhook's thread pool in one process. Target: at most 0.6x. The same work through
   ``client.map`` + ``gather`` shows what Dask alone reaches on the machine at that moment.

Each figure is the median of three runs after one warm-up, the runs compared taking turns, printed
with the mean 1-minute load average (``os.getloadavg()``) after them: the machine may be shared, and a ratio of parallel work on 2
workers means little when the 2 cores are busy with other work. The cluster is started once,
before the runs, and its start is reported on its own. The store is off (FLOWHOOK_STORE=off) so
that only the runner is measured. ``--profile`` prints where the flow's process spends its time
in one run of case 1 (cProfile, cumulative).
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


def median_times(*runs: Callable[[], object], repeats: int = 3) -> list[tuple[float, float]]:
    """For each of ``runs``: the median time of ``repeats`` runs after a warm-up, and the mean
    load average after them. The runs take turns, so that a change of the machine's load
    weighs on each alike."""
    for run in runs:
        run()  # warm-up: imports, pickled functions cached on the workers
    times: list[list[float]] = [[] for _ in runs]
    loads: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, taken, load in zip(runs, times, loads, strict=True):
            started = time.perf_counter()
            run()
            taken.append(time.perf_counter() - started)
            load.append(os.getloadavg()[0])
    return [
        (statistics.median(taken), statistics.mean(load))
        for taken, load in zip(times, loads, strict=True)
    ]


def profile(run: Callable[[], object]) -> None:
    """Profile ``run`` in the flow's thread and in the runner's consumer thread."""
    import cProfile
    import pstats

    from flowhook_dask import _consumer

    consumer_profile = cProfile.Profile()
    consume = _consumer.Consumer._consume

    def profiled(self: _consumer.Consumer, me: object) -> None:
        consumer_profile.runcall(consume, self, me)

    _consumer.Consumer._consume = profiled  # type: ignore[method-assign]
    flow_profile = cProfile.Profile()
    flow_profile.runcall(run)
    _consumer.Consumer._consume = consume  # type: ignore[method-assign]
    for name, stats in (("flow thread", flow_profile), ("consumer thread", consumer_profile)):
        print(f"--- {name}")
        pstats.Stats(stats).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trivial", type=int, default=1000)
    parser.add_argument("--cpu", type=int, default=200)
    parser.add_argument("--cpu-ms", type=float, default=50.0)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()

    identity_task = task(identity)
    burn_task = task(burn)
    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        host="127.0.0.1",
    )
    cluster_start = time.perf_counter() - started, os.getloadavg()[0]
    with cluster, Client(cluster, set_as_default=False) as client:

        def raw() -> object:
            return client.gather(client.map(identity, range(options.trivial), pure=False))

        @flow(task_runner=DaskTaskRunner(cluster=cluster))
        def through_flowhook() -> object:
            return [f.result() for f in identity_task.map(range(options.trivial))]

        def cpu_raw() -> object:
            return client.gather(client.map(burn, [options.cpu_ms] * options.cpu, pure=False))

        @flow(task_runner=DaskTaskRunner(cluster=cluster))
        def cpu_on_dask() -> object:
            return [f.result() for f in burn_task.map([options.cpu_ms] * options.cpu)]

        @flow(task_runner=ThreadPoolTaskRunner())
        def cpu_on_threads() -> object:
            return [f.result() for f in burn_task.map([options.cpu_ms] * options.cpu)]

        if options.profile:
            through_flowhook()
            profile(through_flowhook)
            return
        dask_alone, flowhook_dask = median_times(raw, through_flowhook)
        on_threads, on_dask, on_dask_alone = median_times(cpu_on_threads, cpu_on_dask, cpu_raw)

    def shown(figure: tuple[float, float]) -> str:
        return f"{figure[0]:7.3f} s  (load {figure[1]:.2f})"

    print(
        f"LocalCluster of 2 worker processes started in {shown(cluster_start)}, not counted below"
    )
    print(f"{options.trivial} trivial tasks on 2 workers:")
    print(f"  client.map + gather      {shown(dask_alone)}")
    print(
        f"  flowhook DaskTaskRunner  {shown(flowhook_dask)}  = "
        f"{flowhook_dask[0] / dask_alone[0]:.2f}x (target <= 1.5x)"
    )
    print(f"{options.cpu} tasks of {options.cpu_ms:g} ms CPU (GIL held):")
    print(f"  thread pool              {shown(on_threads)}")
    print(
        f"  DaskTaskRunner           {shown(on_dask)}  = "
        f"{on_dask[0] / on_threads[0]:.2f}x (target <= 0.6x)"
    )
    print(
        f"  client.map + gather      {shown(on_dask_alone)}  = "
        f"{on_dask_alone[0] / on_threads[0]:.2f}x (what Dask alone reaches on this machine now)"
    )
    print(f"{os.cpu_count()} cores; a load above about 1 leaves the 2 workers less than 2 of them")


if __name__ == "__main__":
    main()
