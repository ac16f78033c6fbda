"""What the store costs: a flow of 1,000 trivial sequential tasks, store on vs off, in one run.

    python benchmarks/store_cost.py [--tasks 1000] [--rounds 5] [--repeats 5]

Both modes run in this one interpreter, in alternating rounds (so that drift of the machine
affects both alike); each round starts with an untimed warm-up call, so opening the database and
starting the writer are not counted. A timed call includes everything the store does before the
flow call returns: the flow run's Running written before its body, the task transitions written
by the background writer, and the final flush. Plugins are disabled so that only the store differs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args()

    home = tempfile.TemporaryDirectory(prefix="flowhook-bench-")
    os.environ["FLOWHOOK_HOME"] = home.name
    os.environ["FLOWHOOK_DISABLE_PLUGINS"] = "all"
    import logging

    logging.disable(logging.WARNING)

    import flowhook.store
    from flowhook import flow, task

    @task
    def trivial(i: int) -> int:
        return i

    @flow
    def sequential(n: int) -> None:
        for i in range(n):
            trivial(i)

    times: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(options.rounds):
        for mode in ("off", "on"):
            os.environ["FLOWHOOK_STORE"] = mode
            sequential(10)  # warm-up: attaches (or detaches) the store
            for _ in range(options.repeats):
                started = time.perf_counter()
                sequential(options.tasks)
                times[mode].append(time.perf_counter() - started)
    flowhook._runtime.attach.detach()
    home.cleanup()

    off = statistics.median(times["off"])
    on = statistics.median(times["on"])
    figures = {
        "tasks": options.tasks,
        "store_off_ms": off * 1000,
        "store_on_ms": on * 1000,
        "ratio": on / off,
        "store_cost_us_per_task": (on - off) / options.tasks * 1e6,
        "python": sys.version.split()[0],
    }
    if options.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"flow of {options.tasks} trivial sequential tasks, median of "
          f"{options.rounds * options.repeats} calls per mode")  # fmt: skip
    print(f"  store off  {figures['store_off_ms']:8.1f} ms")
    print(f"  store on   {figures['store_on_ms']:8.1f} ms")
    print(
        f"  ratio      {figures['ratio']:8.2f}    "
        f"(the store costs {figures['store_cost_us_per_task']:.0f} us per task run)"
    )


if __name__ == "__main__":
    main()
