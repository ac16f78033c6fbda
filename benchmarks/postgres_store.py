"""The PostgreSQL store against the SQLite one, in one run: per task run, and events per second.

    python benchmarks/postgres_store.py [--tasks 1000] [--rounds 3] [--repeats 3]

Starts its own PostgreSQL server on 127.0.0.1 (as the tests do, ``fsync=off``: the figures are
the store's and the driver's cost, not a disk's), then times a flow of ``--tasks`` trivial
sequential tasks with each store, in alternating rounds; each round starts with an untimed
warm-up call (attaching the store, opening its pool). A timed call ends after the final flush,
so it includes every write. Events per second are the states of those runs over that time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args()

    from postgres_server import start_server

    server = start_server()
    home = tempfile.TemporaryDirectory(prefix="flowhook-bench-")
    try:
        figures = measure(server.new_database(), home.name, options)
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
        home.cleanup()
    if options.json:
        print(json.dumps(figures))
        return
    for name in ("sqlite", "postgres"):
        print(
            f"{name:9} {figures[name + '_us_per_task_run']:8.1f} us per task run  "
            f"{figures[name + '_events_per_s']:10.0f} events/s"
        )
    print(f"PostgreSQL / SQLite per task run: {figures['ratio']:.2f}x")


def measure(url: str, home: str, options: argparse.Namespace) -> dict[str, float]:
    os.environ["FLOWHOOK_HOME"] = home
    os.environ["FLOWHOOK_DISABLE_PLUGINS"] = "all"
    os.environ["FLOWHOOK_STORE_AUTO_MIGRATE"] = "1"
    import logging

    logging.disable(logging.WARNING)

    from flowhook import flow, task
    from flowhook._runtime.attach import detach, flush

    @task
    def trivial(i: int) -> int:
        return i

    @flow
    def sequential(n: int) -> None:
        for i in range(n):
            trivial(i)

    times: dict[str, list[float]] = {"sqlite": [], "postgres": []}
    for _ in range(options.rounds):
        for name in times:
            detach()
            if name == "postgres":
                os.environ["FLOWHOOK_STORE_URL"] = url
            else:
                os.environ.pop("FLOWHOOK_STORE_URL", None)
            sequential(10)
            for _ in range(options.repeats):
                started = time.perf_counter()
                sequential(options.tasks)
                flush()
                times[name].append(time.perf_counter() - started)
    detach()
    figures: dict[str, float] = {}
    for name, seconds in times.items():
        best = statistics.median(seconds)
        figures[f"{name}_us_per_task_run"] = best / options.tasks * 1e6
        figures[f"{name}_events_per_s"] = (3 * options.tasks + 3) / best
    figures["ratio"] = figures["postgres_us_per_task_run"] / figures["sqlite_us_per_task_run"]
    return figures


if __name__ == "__main__":
    main()
