"""Random (version 4) against time-ordered (version 7) run ids: what each costs to make, and
what the store costs per task run with each.

    python benchmarks/run_ids.py [--tasks 2000 100000] [--rounds 3] [--micro-only]

First the cost of making one id, in CPU ns (the best of several loops of 200,000): the
standard library's ``uuid.uuid4``, the random version 4 ids flowhook made before (kept here
for the comparison), and ``new_run_id``. Then, for each ``--tasks`` size, one flow of that
many one-argument task runs with the SQLite store on, in a fresh interpreter and a fresh
database, the two kinds of ids alternately for ``--rounds`` rounds: the process's CPU time
per task run (both threads, until every state is written), the wall time, the writer's SQL
transactions' CPU time, and the size of the store's files. Medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_MASK_4 = ~((0xF << 76) | (0x3 << 62))
_VERSION_4 = (0x4 << 76) | (0x2 << 62)
_random_bits = random.getrandbits
_new = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def random_run_id() -> uuid.UUID:
    """flowhook's run ids before version 7: random version 4 UUIDs, built the same cheap way."""
    run_id = _new(uuid.UUID)
    _set(run_id, "int", _random_bits(128) & _MASK_4 | _VERSION_4)
    _set(run_id, "is_safe", _UNKNOWN)
    return run_id


def _generators() -> dict[str, Callable[[], uuid.UUID]]:
    from flowhook._engine.ids import new_run_id

    return {"uuid.uuid4": uuid.uuid4, "v4": random_run_id, "v7": new_run_id}


def micro(rounds: int = 5, number: int = 200_000) -> dict[str, float]:
    """CPU ns per id of each generator, the best of ``rounds`` interleaved loops."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, make in _generators().items():
            seconds = min(timeit.repeat(make, number=number, repeat=3, timer=time.process_time))
            best[name] = min(best.get(name, float("inf")), seconds / number * 1e9)
    return best


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(kind: str, tasks: int) -> dict[str, float]:
    """In this (fresh) interpreter: one flow of ``tasks`` task runs with ``kind`` ids."""
    sys.path.insert(0, str(HERE))
    import workloads

    from flowhook._engine import calls
    from flowhook._runtime import attach

    calls.new_run_id = _generators()[kind]  # type: ignore[attr-defined]
    many = workloads.sequential_flow(with_argument=True)
    many(10)
    attach.flush()
    writer = attach.current().writer  # type: ignore[union-attr]
    store: Any = writer.store  # the SQL store's private _write is timed
    sql = [0.0]
    write = store._write

    def timed(body: object) -> object:
        started = time.thread_time()
        try:
            return write(body)
        finally:
            sql[0] += time.thread_time() - started

    store._write = timed
    cpu, wall = _cpu(), time.perf_counter()
    many(tasks)
    attach.flush()
    cpu, wall = _cpu() - cpu, time.perf_counter() - wall
    attach.detach()
    home = Path(os.environ["FLOWHOOK_HOME"])
    size = sum(path.stat().st_size for path in home.glob("flowhook.db*"))
    return {
        "CPU us": cpu / tasks * 1e6,
        "wall us": wall / tasks * 1e6,
        "SQL CPU us": sql[0] / tasks * 1e6,
        "store MB": size / 2**20,
    }


def _in_fresh_interpreter(kind: str, tasks: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="flowhook-ids-") as home:
        env = dict(os.environ, FLOWHOOK_HOME=home, FLOWHOOK_DISABLE_PLUGINS="all")
        env["FLOWHOOK_STORE_WRITER"] = "thread"  # its SQL is timed in this process
        env.pop("FLOWHOOK_STORE", None)
        command = [sys.executable, __file__, "--child", kind, "--tasks", str(tasks)]
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def store_rounds(tasks: int, rounds: int) -> dict[str, dict[str, float]]:
    """Medians of each figure for v4 and v7 ids, run alternately."""
    seen: dict[str, list[dict[str, float]]] = {"v4": [], "v7": []}
    for round_ in range(rounds):
        for kind in ("v4", "v7") if round_ % 2 == 0 else ("v7", "v4"):
            seen[kind].append(_in_fresh_interpreter(kind, tasks))
    return {
        kind: {name: statistics.median(r[name] for r in runs) for name in runs[0]}
        for kind, runs in seen.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[2000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--micro-only", action="store_true")
    parser.add_argument("--child", choices=["v4", "v7"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(options.child, options.tasks[0])))
        return
    for name, ns in micro().items():
        print(f"making one id, {name:12} {ns:7.0f} ns CPU")
    if options.micro_only:
        return
    for tasks in options.tasks:
        figures = store_rounds(tasks, options.rounds)
        print(f"{tasks:,} task runs in one flow, store on, median of {options.rounds}:")
        for name in figures["v4"]:
            old, new = figures["v4"][name], figures["v7"][name]
            print(f"  {name:12} v4 {old:9.2f}   v7 {new:9.2f}   v7/v4 {new / old:5.2f}")


if __name__ == "__main__":
    main()
