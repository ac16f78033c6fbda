"""What a writer process would save: the flow's side of handing writes to another process,
against the whole write in this one. Not part of ``run.py``.

    python benchmarks/writer_process_probe.py [--tasks 2000]

Records the writes of a flow of ``--tasks`` one-argument task runs (the recorder's own records,
captured before the writer), then times, per task run, in thread CPU time:

- ``in-process write``: what the background writer thread does with them today (sort them into
  rows, then one SQLite transaction), all of it under the flow's GIL;
- ``hand-off to a process``: the least a writer process would still cost the flow's process:
  turn each record into plain values (a state's columns, ids as text) and pickle them in
  batches onto a pipe that a child process drains.

Each is measured five times alternately; the medians are printed with the raw pluggy call
measured in the same process.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def capture(tasks: int) -> list[Any]:
    import workloads

    from flowhook._runtime import attach

    workloads._quiet_logging()
    many = workloads.sequential_flow(with_argument=True)
    many(10)
    attach.flush()
    recorder = attach.current()
    assert recorder is not None
    captured: list[Any] = []
    recorder.writer.submit = captured.extend  # type: ignore[method-assign]
    many(tasks)
    return [write for write in captured if type(write).__name__ in ("NewRun", "Transition")]


def plain(write: Any) -> tuple[Any, ...]:
    """A record as values a pipe can carry (what the caller would have to build)."""
    from flowhook.store._sql.rows import state_columns

    if type(write).__name__ == "Transition":
        return (
            write.kind, str(write.run_id), str(write.history_id),
            state_columns(write.state, write.traceback), write.run_count,
            None if write.start_time is None else write.start_time.timestamp(),
            None if write.end_time is None else write.end_time.timestamp(),
        )  # fmt: skip
    return (*write[:1], str(write.id), *write[2:7], str(write.flow_run_id), *write[8:])


def hand_off(writes: list[Any], pipe: Any) -> None:
    for start in range(0, len(writes), 1500):
        pipe.write(pickle.dumps([plain(write) for write in writes[start : start + 1500]], 5))
    pipe.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    options = parser.parse_args()
    import workloads

    from flowhook._runtime import attach

    floor = workloads.floor()["pluggy_call_us"]
    writes = capture(options.tasks)
    store = attach.current().store  # type: ignore[union-attr]
    drain = subprocess.Popen(
        [sys.executable, "-c", "import sys\nwhile sys.stdin.buffer.read(1 << 20): pass"],
        stdin=subprocess.PIPE,
    )
    timings: dict[str, list[float]] = {"in-process write": [], "hand-off to a process": []}
    try:
        for _ in range(5):
            batch = renamed(writes)
            started = time.thread_time()
            store.write(batch)
            timings["in-process write"].append(time.thread_time() - started)
            started = time.thread_time()
            hand_off(writes, drain.stdin)
            timings["hand-off to a process"].append(time.thread_time() - started)
    finally:
        assert drain.stdin is not None
        drain.stdin.close()
        drain.wait(10)
    print(f"{options.tasks:,} task runs; raw pluggy call {floor:.2f} us (pid {os.getpid()})")
    for name, values in timings.items():
        per_task = statistics.median(values) / options.tasks * 1e6
        print(f"  {name:24} {per_task:6.2f} us per task run ({per_task / floor:.1f}x pluggy)")


def renamed(writes: list[Any]) -> list[Any]:
    """The same records with new run ids (the store takes each run once)."""
    import uuid

    ids = {id(w.id): uuid.uuid4() for w in writes if type(w).__name__ == "NewRun"}
    return [
        w._replace(id=ids[id(w.id)])
        if type(w).__name__ == "NewRun"
        else w._replace(run_id=ids.get(id(w.run_id), w.run_id))
        for w in writes
    ]


if __name__ == "__main__":
    main()
