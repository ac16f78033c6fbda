"""The thread writer against the writer process (``FLOWHOOK_STORE_WRITER``), measured alike.

    python benchmarks/writer_process_probe.py [--rounds 3] [--size tiny] [--only TEXT]

Runs the store cases of ``run.py`` (the same workloads, each in a fresh interpreter) with
``FLOWHOOK_STORE_WRITER=thread`` and ``=process`` alternately, ``--rounds`` times each, and
prints each figure's median for both and their ratio. The writer process is used from the
first write (``FLOWHOOK_STORE_WRITER_WAIT=1``): the figures are its steady state; a script
shorter than its start-up (about 0.1 s) is written by the thread writer anyway.

Then, per task run, the wall time and the CPU time of the flow's process and of the writer
process (from /proc: Linux), and the wall time of a fresh interpreter running a flow of three task runs, with each writer
(median of ``--starts``): what the child's start costs a short script.

``run.py`` itself uses whichever writer the environment selects:
``FLOWHOOK_STORE_WRITER=process FLOWHOOK_STORE_WRITER_WAIT=1 python benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import CASES, run_case  # noqa: E402

#: The cases whose figures depend on the writer.
STORE_CASES = (
    "sequential 2k, one argument, store on, no plugins",
    "sequential 2k, one argument, store on, 3 plugins",
    "sequential 2k, one argument, store on, a rule matching nothing",
    "sequential 2k, one argument, store on, 3 plugins, a rule matching nothing",
    "store write throughput",
    "PostgreSQL against SQLite, 2k task runs",
)
WRITERS = ("thread", "process")

SHORT_SCRIPT = """
from flowhook import flow, task

@task
def step(i: int) -> int:
    return i + 1

@flow
def short() -> int:
    return sum(step(i) for i in range(3))

short()
"""


CPU_SCRIPT = """
import json, os, sys, time
from flowhook import flow, task
from flowhook._runtime import attach

@task
def step(i: int) -> int:
    return i + 1

@flow
def many(n: int) -> int:
    for i in range(n):
        step(i)
    return n

def child_cpu(pid):
    if pid is None:
        return 0.0
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

n = int(sys.argv[1])
many(10)
attach.flush()
pid = getattr(attach.current().writer, "pid", None)
rows = []
for _ in range(5):
    child, cpu, wall = child_cpu(pid), time.process_time(), time.perf_counter()
    many(n)
    rows.append([(time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6,
                 (child_cpu(pid) - child) / n * 1e6])
print(json.dumps(rows))
"""


def _in_turn(round_: int) -> tuple[str, ...]:
    """The writers in the order of round ``round_``: each goes first every other round."""
    return WRITERS if round_ % 2 == 0 else WRITERS[::-1]


def _writer_env(home: Path, writer: str, *, wait: bool) -> dict[str, str]:
    """This environment with ``writer`` writing a store in ``home``, and no plugins; ``wait``:
    the writer process from the first write."""
    env = {
        **os.environ,
        "FLOWHOOK_HOME": str(home),
        "FLOWHOOK_STORE_WRITER": writer,
        "FLOWHOOK_DISABLE_PLUGINS": "all",
    }
    if wait:
        env["FLOWHOOK_STORE_WRITER_WAIT"] = "1"
    return env


def cpu_split(tasks: int, rounds: int) -> dict[str, list[float]]:
    """Per task run (medians): wall time, CPU of the flow's process (all its threads), CPU of
    the writer process; ``tasks`` one-argument task runs in a flow, 5 runs per round."""
    rows: dict[str, list[list[float]]] = {writer: [] for writer in WRITERS}
    with tempfile.TemporaryDirectory() as directory:
        script = Path(directory) / "split.py"
        script.write_text(CPU_SCRIPT)
        for index in range(rounds):
            for writer in _in_turn(index):
                env = _writer_env(Path(directory) / f"{writer}{index}", writer, wait=True)
                done = subprocess.run(
                    [sys.executable, str(script), str(tasks)],
                    env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                rows[writer] += json.loads(done.stdout.strip().splitlines()[-1])
    return {
        writer: [statistics.median(row[column] for row in found) for column in range(3)]
        for writer, found in rows.items()
    }


def measure(cases: list[tuple[str, str, int, int, dict[str, str]]], rounds: int, tiny: bool):
    """Each case's figures per writer, over ``rounds`` alternating rounds."""
    figures: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for round_ in range(rounds):
        for label, workload, full, small, env in cases:
            for writer in _in_turn(round_):
                extra = {**env, "FLOWHOOK_STORE_WRITER": writer, "FLOWHOOK_STORE_WRITER_WAIT": "1"}
                with tempfile.TemporaryDirectory() as home:
                    found = run_case(workload, small if tiny else full, extra, Path(home))
                figures.setdefault((label, writer), []).append(found["figures"])
    return figures


def short_script(starts: int) -> dict[str, float]:
    """Median wall time of a fresh interpreter running a three-task flow, per writer."""
    times: dict[str, list[float]] = {writer: [] for writer in WRITERS}
    with tempfile.TemporaryDirectory() as directory:
        script = Path(directory) / "short.py"
        script.write_text(SHORT_SCRIPT)
        for index in range(starts):
            for writer in _in_turn(index):
                env = _writer_env(Path(directory) / writer, writer, wait=False)
                started = time.perf_counter()
                subprocess.run([sys.executable, str(script)], env=env, check=True)
                times[writer].append(time.perf_counter() - started)
    return {writer: statistics.median(values) for writer, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--size", choices=["full", "tiny"], default="full")
    parser.add_argument("--only", metavar="TEXT", action="append")
    args = parser.parse_args()
    cases = [
        case
        for case in CASES
        if case[0] in STORE_CASES and (not args.only or any(t in case[0] for t in args.only))
    ]
    figures = measure(cases, args.rounds, args.size == "tiny")
    print(f"{'case':74} {'figure':20} {'thread':>10} {'process':>10} {'p/t':>6}")
    for label, *_ in cases:
        thread, process = figures[(label, "thread")], figures[(label, "process")]
        for name in thread[0]:
            values = [statistics.median(row[name] for row in rows) for rows in (thread, process)]
            ratio = values[1] / values[0] if values[0] else float("nan")
            print(f"{label:74} {name:20} {values[0]:10.2f} {values[1]:10.2f} {ratio:6.2f}")
    split = cpu_split(2000, args.rounds)
    for column, name in enumerate(("wall", "CPU, flow's process", "CPU, writer process")):
        print(
            f"{'2k one-argument task runs, per task run (µs): ' + name:74} {'median':20} "
            f"{split['thread'][column]:10.2f} {split['process'][column]:10.2f}"
        )
    walls = short_script(args.starts)
    print(
        f"{'a 3-task flow script, fresh interpreter (wall s)':74} {'median':20} "
        f"{walls['thread']:10.3f} {walls['process']:10.3f} "
        f"{walls['process'] / walls['thread']:6.2f}"
    )


if __name__ == "__main__":
    main()
