"""The sequential-task workload written for Prefect 3, run by ``run.py --prefect PYTHON``.

It runs in the interpreter of an environment where Prefect is installed (never flowhook's), with
Prefect's own temporary local server, and prints one JSON object like ``workloads.py`` does.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from prefect import flow, task


@task
def trivial() -> int:
    return 1


@flow
def many(count: int) -> None:
    for _ in range(count):
        trivial()


if __name__ == "__main__":
    size = int(sys.argv[1])
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    many(5)  # start the temporary server and warm up
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        many(size)
        timings.append(time.perf_counter() - started)
    seconds = statistics.median(timings)
    print(json.dumps({"figures": {"per_task_us": seconds / size * 1e6, "total_s": seconds}}))
