"""What the store costs: a flow of 1,000 trivial sequential tasks, store on vs off, in one run,
and what storing run logs adds: the same flow with each task logging one INFO line (stored).

    python benchmarks/store_cost.py [--tasks 1000] [--rounds 5] [--repeats 5]

Both modes run in this one interpreter, in alternating rounds (so that drift of the machine
affects both alike); each round starts with an untimed warm-up call, so opening the database and
starting the writer are not counted. A timed call includes everything the store does before the
flow call returns: the flow run's Running written before its body, the task transitions written
by the background writer thread, and the final flush. Plugins are disabled so that only the store
differs. The writer is the thread (``FLOWHOOK_STORE_WRITER=thread``), so that the writer process
starting part of the way through does not blur the comparison (``writer_process_probe.py``
measures it).
Mode ``logs`` is ``on`` with logging enabled and a task that calls ``get_run_logger().info``:
its ratio to ``on`` is what logging one stored record costs per task run. Mode ``logs_dropped``
is the same with ``FLOWHOOK_RUN_LOG_LIMIT=0``: every record is made by Python's logging and
counted, none is stored. Its difference to ``on`` is Python's logging (and the count), the rest
of ``logs`` is storing the record (formatting it, the queue, the writer's insert).
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
    os.environ["FLOWHOOK_STORE_WRITER"] = "thread"  # one writer throughout (see the docstring)
    import logging

    logging.disable(logging.WARNING)

    import flowhook._runtime.attach
    import flowhook.store
    from flowhook import flow, get_run_logger, task

    @task
    def trivial(i: int) -> int:
        return i

    @task
    def logging_one_line(i: int) -> int:
        get_run_logger().info("task %d", i)
        return i

    @flow
    def sequential(n: int, logs: bool = False) -> None:
        body = logging_one_line if logs else trivial
        for i in range(n):
            body(i)

    times: dict[str, list[float]] = {"off": [], "on": [], "logs": [], "logs_dropped": []}
    for _ in range(options.rounds):
        for mode in times:
            os.environ["FLOWHOOK_STORE"] = "off" if mode == "off" else "on"
            os.environ["FLOWHOOK_RUN_LOG_LIMIT"] = "0" if mode == "logs_dropped" else "10000"
            flowhook._runtime.attach.detach()  # the limit is read when the store attaches
            logs = mode.startswith("logs")
            logging.disable(logging.NOTSET if logs else logging.WARNING)
            sequential(10, logs)  # warm-up: attaches (or detaches) the store
            for _ in range(options.repeats):
                started = time.perf_counter()
                sequential(options.tasks, logs)
                times[mode].append(time.perf_counter() - started)
    logging.disable(logging.WARNING)
    flowhook._runtime.attach.detach()
    home.cleanup()

    off = statistics.median(times["off"])
    on = statistics.median(times["on"])
    logged = statistics.median(times["logs"])
    dropped = statistics.median(times["logs_dropped"])
    figures = {
        "tasks": options.tasks,
        "store_off_ms": off * 1000,
        "store_on_ms": on * 1000,
        "ratio": on / off,
        "store_cost_us_per_task": (on - off) / options.tasks * 1e6,
        "logs_ms": logged * 1000,
        "logs_ratio": logged / on,
        "log_cost_us_per_task": (logged - on) / options.tasks * 1e6,
        "logs_dropped_ms": dropped * 1000,
        "python_logging_us_per_task": (dropped - on) / options.tasks * 1e6,
        "log_store_cost_us_per_task": (logged - dropped) / options.tasks * 1e6,
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
    print(f"  logs       {figures['logs_ms']:8.1f} ms  (store on, each task logs one line)")
    print(
        f"  dropped    {figures['logs_dropped_ms']:8.1f} ms  (the same, FLOWHOOK_RUN_LOG_LIMIT=0)"
    )
    print(
        f"  logs / on  {figures['logs_ratio']:8.2f}    "
        f"(a stored record costs {figures['log_cost_us_per_task']:.0f} us per task run: "
        f"{figures['python_logging_us_per_task']:.0f} us making it, "
        f"{figures['log_store_cost_us_per_task']:.0f} us of storing it)"
    )


if __name__ == "__main__":
    main()
