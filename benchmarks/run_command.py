"""What the display of ``flowhook run`` costs: a flow of 10,000 trivial tasks, three ways, in one run.

    python benchmarks/run_command.py [--tasks 10000] [--repeats 9]

Each round runs the same flow, in a fresh interpreter each time, in three ways, one after the
other (so that drift of the machine affects all alike), ``--repeats`` rounds:

- ``python``: a plain Python call of the flow (``python -c``), output to a pipe;
- ``plain``: ``flowhook run --no-progress``, one line per transition, to a pipe read as it comes;
- ``live``: ``flowhook run`` in a pseudo-terminal, with the live display, read as it comes.

The figure that the contract bounds is the run's own duration, from its Running to its end, as
the store records it (the flow run's ``duration_seconds``): what the display adds to a run. The
CPU time the run used is reported too: the CPU time of each process (``wait4``) less that of a
process of the same way running the flow with no task (start-up, imports, exit), which the
rest of the machine disturbs less than the wall time. Ratios are to the
``python`` way: of the medians over the rounds, and of the best runs (the least disturbed by
the rest of the machine, which on a shared machine varies more than the display costs).
Plugins are disabled, the store is on (the default).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path
from typing import IO

FLOW_FILE = """
from flowhook import flow, task


@task
def trivial(i: int) -> int:
    return i


@flow
def many(n: int) -> None:
    for i in range(n):
        trivial(i)
"""

FLOWHOOK = str(Path(sys.executable).with_name("flowhook"))
#: Runs of each way with no task (at most as many as rounds): the CPU time of starting and
#: ending a process.
STARTS = 3
MODES = ("python", "plain", "live")


def _drain(stream: IO[bytes] | int, into: list[int]) -> threading.Thread:
    """Read ``stream`` (a pipe, or a pty's master fd) to its end in a thread, counting bytes."""

    def read() -> None:
        while True:
            try:
                data = os.read(stream, 65536) if isinstance(stream, int) else stream.read1(65536)
            except OSError:  # the pty's other side closed
                return
            if not data:
                return
            into[0] += len(data)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _wait(process: subprocess.Popen[bytes]) -> tuple[int, float]:
    """The exit status of ``process`` and the CPU time it used (user and system), in seconds."""
    _, raw, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(raw)
    return process.returncode, usage.ru_utime + usage.ru_stime


def run_once(
    mode: str, tasks: int, name: str, directory: Path, env: dict[str, str]
) -> tuple[float, float]:
    """Run the flow one way; the wall time and the CPU time of the process, in seconds."""
    if mode == "python":
        code = (
            "import sys; sys.path.insert(0, '.'); from bench_flow import many; "
            f"many.with_options(flow_run_name={name!r})({tasks})"
        )
        argv = [sys.executable, "-c", code]
    else:
        argv = [FLOWHOOK, "run", "bench_flow.py:many", "-p", f"n={tasks}", "--name", name]
        if mode == "plain":
            argv.append("--no-progress")
    received = [0]
    started = time.perf_counter()
    if mode == "live":
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=directory, env=env
        )
        os.close(slave)
        reader = _drain(master, received)
        status, cpu = _wait(process)
        reader.join(10)
        os.close(master)
    else:
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=directory, env=env
        )
        assert process.stdout is not None
        reader = _drain(process.stdout, received)
        status, cpu = _wait(process)
        reader.join(10)
        process.stdout.close()
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{mode} run failed with exit status {status}")
    if mode != "python" and not received[0]:
        raise SystemExit(f"{mode} run printed nothing")
    return elapsed, cpu


def durations(directory: Path, env: dict[str, str], count: int) -> dict[str, float]:
    """The recorded duration of each flow run, by run name."""
    listed = subprocess.run(
        [FLOWHOOK, "runs", "ls", "--json", "--limit", str(count)],
        capture_output=True,
        text=True,
        cwd=directory,
        env=env,
        check=True,
    )
    return {run["name"]: run["duration_seconds"] for run in json.loads(listed.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=9, help="runs of each way, alternating")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flowhook-bench-run-") as temporary:
        directory = Path(temporary)
        (directory / "bench_flow.py").write_text(FLOW_FILE)
        env = {
            **os.environ,
            "FLOWHOOK_HOME": str(directory / "home"),
            "FLOWHOOK_DISABLE_PLUGINS": "all",
            "TERM": "xterm-256color",
        }
        env.pop("FLOWHOOK_STORE", None)
        where = (directory, env)
        wall: dict[str, list[float]] = {mode: [] for mode in MODES}
        cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
        start_cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
        starts = min(STARTS, options.repeats)
        for repeat in range(starts):  # the CPU time of starting and ending, to subtract
            for mode in MODES:
                start_cpu[mode].append(run_once(mode, 0, f"start-{mode}-{repeat}", *where)[1])
        for repeat in range(options.repeats):
            for mode in MODES:
                elapsed, used = run_once(mode, options.tasks, f"{mode}-{repeat}", *where)
                wall[mode].append(elapsed)
                cpu[mode].append(used)
        recorded = durations(directory, env, (options.repeats + starts) * len(MODES))
    runs = {mode: [recorded[f"{mode}-{i}"] for i in range(options.repeats)] for mode in MODES}
    figures: dict[str, float | int | str] = {"tasks": options.tasks, "repeats": options.repeats}
    for mode in MODES:
        figures[f"{mode}_run_s"] = statistics.median(runs[mode])
        figures[f"{mode}_best_run_s"] = min(runs[mode])
        figures[f"{mode}_process_s"] = statistics.median(wall[mode])
        figures[f"{mode}_run_cpu_s"] = statistics.median(cpu[mode]) - statistics.median(
            start_cpu[mode]
        )
    for mode in ("plain", "live"):
        for figure in ("run", "best_run", "run_cpu", "process"):
            ratio = float(figures[f"{mode}_{figure}_s"]) / float(figures[f"python_{figure}_s"])
            figures[f"{mode}_{figure}_ratio"] = ratio
    figures["python"] = sys.version.split()[0]
    if options.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"flow of {options.tasks} trivial sequential tasks, store on, no plugins; "
        f"{options.repeats} rounds"
    )
    header = ("run (median)", "ratio", "run (best)", "ratio", "run's CPU", "ratio")
    print(f"  {'':28}" + "".join(f" {title:>{len(title) + 2}}" for title in header))
    labels = {
        "python": "plain Python call",
        "plain": "flowhook run --no-progress",
        "live": "flowhook run, live (pty)",
    }
    for mode in MODES:
        cells = []
        for figure, title in zip(("run", "best_run", "run_cpu"), header[::2], strict=True):
            ratio = "" if mode == "python" else f"{figures[f'{mode}_{figure}_ratio']:.3f}"
            cells.append(f" {figures[f'{mode}_{figure}_s']:>{len(title)}.3f} s {ratio:>5}")
        print(f"  {labels[mode]:28}" + "".join(cells))
    print(
        f"  the live display costs {100 * (float(figures['live_run_ratio']) - 1):+.1f}% of the "
        f"run (medians), {100 * (float(figures['live_best_run_ratio']) - 1):+.1f}% (best runs), "
        f"{100 * (float(figures['live_run_cpu_ratio']) - 1):+.1f}% of its CPU time"
    )


if __name__ == "__main__":
    main()
