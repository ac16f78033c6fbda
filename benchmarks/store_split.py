"""Where the store's time goes, per task run: the run's thread against the writer thread.

    python benchmarks/store_split.py [--tasks 5000] [--repeats 7]

In one interpreter with a fresh database, a flow of trivial sequential tasks is timed three
ways: without the store's observer (the engine alone), with the observer but writes dropped (the
cost in the run's thread), and whole. Then one more flow is run with the writer instrumented:
its CPU time, split into the SQL transaction and the Python that builds the rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()
    home = tempfile.TemporaryDirectory(prefix="flowhook-bench-")
    os.environ["FLOWHOOK_HOME"] = home.name
    os.environ["FLOWHOOK_DISABLE_PLUGINS"] = "all"
    os.environ["FLOWHOOK_STORE_WRITER"] = "thread"  # the writer thread's split is measured
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from workloads import floor, sequential_flow

    from flowhook import _engine as engine
    from flowhook._runtime import attach as recorder

    many = sequential_flow()
    many(10)  # attaches the store
    attached = recorder.current()
    assert attached is not None, "the store did not attach"
    writer = attached.writer

    def per_task_us() -> float:
        timings = []
        for _ in range(options.repeats):
            started = time.perf_counter()
            many(options.tasks)
            timings.append(time.perf_counter() - started)
        return statistics.median(timings) / options.tasks * 1e6

    whole = per_task_us()
    with _replaced(writer, submit=_dropped, submit_and_wait=lambda writes: True):
        observer_only = per_task_us()
        observers = list(engine.observers)
        engine.observers.clear()
        try:
            engine_only = per_task_us()
        finally:
            engine.observers.extend(observers)

    spent = {"cpu": 0.0, "sql": 0.0}
    apply, transaction = writer._apply, writer.store._write  # type: ignore[attr-defined]

    def timed_apply(entries: Any) -> None:
        started = time.thread_time()
        apply(entries)
        spent["cpu"] += time.thread_time() - started

    def timed_transaction(body: Any) -> Any:
        started = time.thread_time()
        try:
            return transaction(body)
        finally:
            spent["sql"] += time.thread_time() - started

    with _replaced(writer, _apply=timed_apply), _replaced(writer.store, _write=timed_transaction):
        many(options.tasks)
    recorder.detach()
    home.cleanup()

    n = options.tasks
    print(f"floor: raw pluggy call {floor()['pluggy_call_us']:.2f} us")
    print(f"per task run, engine alone            {engine_only:7.1f} us")
    print(f"  + the store's observer (run thread) {observer_only - engine_only:7.1f} us")
    print(f"  + the writer (whole - observer)     {whole - observer_only:7.1f} us")
    print(f"  = whole, store on                   {whole:7.1f} us")
    print(f"writer thread CPU per task run        {spent['cpu'] / n * 1e6:7.1f} us")
    print(f"  of which the SQL transaction        {spent['sql'] / n * 1e6:7.1f} us")


def _dropped(writes: tuple[Any, ...], *, wait: bool = True) -> None:
    """The writer's ``submit`` that writes nothing (the held runs' thread passes ``wait``)."""


class _replaced:
    """Set attributes of ``target`` for the duration of a ``with`` block."""

    def __init__(self, target: object, **values: Callable[..., Any]) -> None:
        self.target = target
        self.values = values
        self.saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        for name, value in self.values.items():
            self.saved[name] = getattr(self.target, name)
            setattr(self.target, name, value)

    def __exit__(self, *exc: object) -> None:
        for name, value in self.saved.items():
            setattr(self.target, name, value)


if __name__ == "__main__":
    main()
