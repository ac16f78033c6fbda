"""State events written per second against the writer's backlog bound (``max_backlog``).

    python benchmarks/writer_backlog.py [--tasks 10000] [--rounds 3] [--backlog 500 2000 ...]

When more than ``max_backlog`` submissions wait, the run's thread waits until the writer thread
has written them all. Each bound is measured in a fresh interpreter, rounds alternating, with
``workloads.store_writes`` (the "store write throughput" case of ``run.py``); the table gives
each bound's median and its ratio to the default bound.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Run in each fresh interpreter: the bound is set on every BatchWriter the store attaches.
_CHILD = """
import json, sys
sys.path.insert(0, {here!r})
from flowhook.store import _writer
init = _writer.BatchWriter.__init__
def bounded(self, *args, **kwargs):
    kwargs["max_backlog"] = {backlog}
    init(self, *args, **kwargs)
_writer.BatchWriter.__init__ = bounded
import workloads
print(json.dumps(workloads.store_writes({tasks})))
"""


def events_per_second(backlog: int, tasks: int) -> float:
    """One measurement, in a fresh interpreter with an empty store of its own."""
    with tempfile.TemporaryDirectory(prefix="flowhook-bench-") as home:
        env = {**os.environ, "FLOWHOOK_HOME": home, "FLOWHOOK_DISABLE_PLUGINS": "all"}
        env["FLOWHOOK_STORE_WRITER"] = "thread"  # the writer thread's bound is measured
        code = _CHILD.format(here=str(HERE), backlog=backlog, tasks=tasks)
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        ).stdout
    return float(json.loads(out.splitlines()[-1])["events_per_s"])


def main() -> None:
    from flowhook.store._writer import BatchWriter

    default = BatchWriter.__init__.__kwdefaults__["max_backlog"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--backlog", type=int, nargs="+", default=[100, 500, default, 8000, 100_000]
    )
    options = parser.parse_args()
    bounds = sorted(set(options.backlog) | {default})
    figures: dict[int, list[float]] = {bound: [] for bound in bounds}
    for _ in range(options.rounds):
        for bound in bounds:
            figures[bound].append(events_per_second(bound, options.tasks))
    base = statistics.median(figures[default])
    print(f"{'max_backlog':>12} {'events/s':>10} {'vs default':>10}")
    for bound in bounds:
        median = statistics.median(figures[bound])
        mark = "  (default)" if bound == default else ""
        print(f"{bound:>12} {median:>10.0f} {median / base:>10.2f}{mark}")


if __name__ == "__main__":
    main()
