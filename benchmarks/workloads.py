"""The workloads of the benchmark suite. Each runs in its own interpreter (see ``run.py``) and
prints one JSON object: its figures and the floor measured in the same process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))


def median_seconds(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def floor() -> dict[str, float]:
    """Per-call cost of a plain Python call and of a raw pluggy hook call with one implementation."""
    import pluggy

    def plain() -> int:
        return 1

    spec = pluggy.HookspecMarker("bench")
    impl = pluggy.HookimplMarker("bench")

    class Spec:
        @spec
        def hook(self, a: object) -> None: ...

    class Impl:
        @impl
        def hook(self, a: object) -> None:
            return None

    manager = pluggy.PluginManager("bench")
    manager.add_hookspecs(Spec)
    manager.register(Impl())
    calls = 100_000

    def plain_loop() -> None:
        for _ in range(calls):
            plain()

    def pluggy_loop() -> None:
        hook = manager.hook.hook
        for _ in range(calls):
            hook(a=1)

    return {
        "plain_call_us": median_seconds(plain_loop) / calls * 1e6,
        "pluggy_call_us": median_seconds(pluggy_loop) / calls * 1e6,
    }


def _quiet_logging() -> None:
    """The logging plugin writes to a handler that discards, as in production with a sink."""
    logging.basicConfig(level=logging.INFO, handlers=[logging.NullHandler()], force=True)


#: ``perf_counter()`` when the last call of a :func:`sequential_flow` entered and left its loop
#: of task runs: the time between is the flow's own, without its start and end, which wait for
#: the store to hold the flow run's states (and, at the end, every write before).
LOOP_MARKS: dict[str, float] = {}


def sequential_flow(with_argument: bool = False) -> Callable[[int], None]:
    """A flow that calls a trivial task ``count`` times, one after the other; it marks its loop
    in :data:`LOOP_MARKS`.

    ``with_argument``: the task takes one argument (binding it costs as much as the rest of a
    trivial task run, so it is a figure of its own).
    """
    import flowhook

    @flowhook.task
    def trivial() -> int:
        return 1

    @flowhook.task
    def identity(i: int) -> int:
        return i

    @flowhook.flow
    def many(count: int) -> None:
        LOOP_MARKS["in"] = time.perf_counter()
        if with_argument:
            for i in range(count):
                identity(i)
        else:
            for _ in range(count):
                trivial()
        LOOP_MARKS["out"] = time.perf_counter()

    return many


def sequential(n: int) -> dict[str, float]:
    return _sequential(n, with_argument=False)


def sequential_one_argument(n: int) -> dict[str, float]:
    return _sequential(n, with_argument=True)


def _start_sink(script: str) -> tuple[subprocess.Popen[str], str]:
    """A local receiver (a script beside this one) in a process of its own, and the first line
    it prints (where it listens); close its stdin to stop it."""
    sink = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(__file__), script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None and sink.stdin is not None
    return sink, sink.stdout.readline().strip()


def sequential_otlp(n: int) -> dict[str, float]:
    """The sequential flow with flowhook-otel exporting its spans and metrics over OTLP/HTTP to
    a local receiver (``otlp_sink.py``, in a process of its own)."""

    sink, port = _start_sink("otlp_sink.py")
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
    try:
        return _sequential(n, with_argument=False)
    finally:
        sink.stdin.close()
        sink.wait(10)


def _sequential(n: int, with_argument: bool) -> dict[str, float]:
    if os.environ.get("BENCH_LOGGING") != "default":  # default: logging as Python starts it
        _quiet_logging()
    many = sequential_flow(with_argument)
    many(10)  # load plugins, attach the store
    loops: list[float] = []

    def timed() -> None:
        many(n)
        loops.append(LOOP_MARKS["out"] - LOOP_MARKS["in"])

    seconds = median_seconds(timed, repeats=REPEATS if n <= 10_000 else 1)
    # The figure is per_task_us; loop_us shows how much of it is the flow's own loop.
    return {
        "per_task_us": seconds / n * 1e6,
        "total_s": seconds,
        "loop_us": statistics.median(loops) / n * 1e6,
    }


def async_sequential(n: int) -> dict[str, float]:
    """An async flow awaiting a trivial async task (one int argument) ``n`` times."""
    import flowhook

    @flowhook.task
    async def identity(i: int) -> int:
        return i

    @flowhook.flow
    async def many(count: int) -> None:
        for i in range(count):
            await identity(i)

    if os.environ.get("BENCH_LOGGING") != "default":
        _quiet_logging()
    asyncio.run(many(10))  # load plugins, attach the store
    seconds = median_seconds(lambda: asyncio.run(many(n)))
    return {"per_task_us": seconds / n * 1e6, "total_s": seconds}


def dispatch(implementations: int) -> dict[str, float]:
    """One transition's plugin dispatch with k implementations, against raw pluggy with k."""
    import pluggy

    from flowhook import hookimpl
    from flowhook._plugins import PluginManager
    from flowhook_hookspec.specs import FlowRunSpecs
    from flowhook_hookspec.states import Completed

    class Observer:
        @hookimpl
        def on_flow_run_completion(self, flow: Any, flow_run: Any, state: Any) -> None:
            return None

    ours = PluginManager(load_entrypoints=False)
    raw = pluggy.PluginManager("flowhook")
    raw.add_hookspecs(FlowRunSpecs)
    for index in range(implementations):
        ours.register(Observer(), name=f"observer-{index}")
        raw.register(Observer(), name=f"observer-{index}")
    state = Completed()
    arguments = {"flow": None, "flow_run": None, "state": state}
    calls = 50_000

    def ours_loop() -> None:
        hook = "on_flow_run_completion"
        for _ in range(calls):
            if ours.callers(hook):
                ours.dispatch(hook, arguments)

    def raw_loop() -> None:
        hook = raw.hook.on_flow_run_completion
        for _ in range(calls):
            hook(flow=None, flow_run=None, state=state)

    return {
        "flowhook_us": median_seconds(ours_loop) / calls * 1e6,
        "pluggy_us": median_seconds(raw_loop) / calls * 1e6,
    }


def submitted(n: int) -> dict[str, float]:
    import flowhook

    @flowhook.task
    def trivial(i: int) -> int:
        return i

    @flowhook.flow
    def fan_out(count: int) -> None:
        futures = [trivial.submit(i) for i in range(count)]
        for future in futures:
            future.result()

    fan_out(10)
    return {"total_s": median_seconds(lambda: fan_out(n), repeats=3)}


def gathered(n: int) -> dict[str, float]:
    import flowhook

    @flowhook.task
    async def trivial(i: int) -> int:
        return i

    @flowhook.flow
    async def fan_out(count: int) -> None:
        await asyncio.gather(*(trivial(i) for i in range(count)))

    asyncio.run(fan_out(10))
    return {"total_s": median_seconds(lambda: asyncio.run(fan_out(n)), repeats=3)}


def memory(n: int) -> dict[str, float]:
    """RSS growth over a flow of ``n`` sequential trivial tasks (ru_maxrss, in MB)."""
    many = sequential_flow()
    many(100)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    many(n)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rss_growth_mb": (after - before) / 1024}


def store_writes(n: int) -> dict[str, float]:
    """Events per second the store writes: ``n`` task runs (3 events each) through the writer."""
    from flowhook._runtime.attach import detach, flush

    many = sequential_flow()
    many(5)
    started = time.perf_counter()
    many(n)
    flush()
    seconds = time.perf_counter() - started
    detach()
    return {"events_per_s": (3 * n + 3) / seconds}


def delivery(n: int) -> dict[str, float]:
    """Messages per second delivered to one block on a local Slack-like server (no spacing),
    which runs in a process of its own (``slack_sink.py``): the notifications of 50 runs, so
    that the pool of senders (which keeps each run's order) has runs to send at once."""

    import attrs

    from flowhook.notifications import deliver_due
    from flowhook.store import OutboxEntry, open_store
    from flowhook_slack import SlackWebhook

    @attrs.define
    class Unspaced(SlackWebhook):  # the benchmark measures our overhead, not Slack's rate limit
        min_interval_seconds = 0.0

    sink, url = _start_sink("slack_sink.py")
    store = open_store()
    notifier = Unspaced(url)
    now = time.time()
    store.enqueue_outbox(
        OutboxEntry(
            f"bench-{i}",
            "slack-webhook",
            "bench",
            "rule",
            "flow",
            f"run-{i % 50}",
            "e",
            "s",
            f"m{i}",
            now,
        )
        for i in range(n)
    )
    started, cpu = time.perf_counter(), time.process_time()
    sent = 0
    while sent < n:
        sent += deliver_due(store, lambda name: notifier, "bench:0", limit=200)[1]
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu  # every thread's: what bounds the rate on a busy machine
    sink.stdin.close()
    received = int(sink.stdout.readline())
    sink.wait()
    store.close()
    assert received == n, (received, n)
    return {"messages_per_s": n / seconds, "cpu_us_per_message": cpu / n * 1e6}


def store_copy(n: int) -> dict[str, float]:
    """Rows per second ``flowhook store copy`` moves between two SQLite files: ``n`` flow runs
    of a task run each, with their states and logs, written by the engine itself."""
    import tempfile
    from pathlib import Path

    import flowhook
    from flowhook._runtime.attach import detach, flush
    from flowhook.store import SQLiteStore, copy_history, open_store

    @flowhook.task
    def one() -> int:
        flowhook.get_run_logger().info("a line")
        return 1

    @flowhook.flow
    def short() -> int:
        return one()

    for _ in range(n):
        short()
    flush()
    detach()
    source = open_store()
    timings: list[float] = []
    rows = 0
    for _ in range(3):
        with tempfile.TemporaryDirectory() as directory:
            target = SQLiteStore(Path(directory) / "copy.db")
            started = time.perf_counter()
            rows = sum(copy_history(source, target).values())
            timings.append(time.perf_counter() - started)
            target.close()
    source.close()
    return {"rows_per_s": rows / statistics.median(timings)}


def postgres_ratio(n: int) -> dict[str, float]:
    """Per task run (one int argument) on a local PostgreSQL server against SQLite, alternating
    rounds in this one process (``postgres_store.py``); empty when no server can be started."""
    import argparse

    import postgres_store
    from postgres_server import start_server

    try:
        import psycopg  # noqa: F401
    except ImportError:
        print("PostgreSQL not measured: psycopg is not installed", file=sys.stderr)
        return {}
    try:
        server = start_server()
    except RuntimeError as error:
        print(f"PostgreSQL not measured: {error}", file=sys.stderr)
        return {}
    try:
        options = argparse.Namespace(tasks=n, rounds=3, repeats=3)
        figures = postgres_store.measure(
            server.new_database(), os.environ["FLOWHOOK_HOME"], options
        )
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
    return {
        "postgres_us": figures["postgres_us_per_task_run"],
        "sqlite_us": figures["sqlite_us_per_task_run"],
        "postgres_over_sqlite": figures["ratio"],
    }


def million(n: int) -> dict[str, float]:
    """One flow of ``n`` task runs, store on, then its reads: ``million_runs.py``'s figures."""
    import argparse
    from pathlib import Path

    import million_runs

    options = argparse.Namespace(
        tasks=n, requests=5, page_timeout=120.0, home=None, keep=None, postgres=False
    )
    figures = million_runs.measure(options, Path(os.environ["FLOWHOOK_HOME"]))
    return {
        "per_task_us": figures["per task run us"],
        "rss_growth_mb": figures["RSS growth MB"],
        "store_mb": figures["store MB"],
        "runs_ls_ms": figures["runs ls, fresh interpreter ms"],
        "run_page_ms": figures["UI run page ms"],
    }


WORKLOADS: dict[str, Callable[[int], dict[str, float]]] = {
    "million": million,
    "postgres_ratio": postgres_ratio,
    "store_copy": store_copy,
    "store_writes": store_writes,
    "delivery": delivery,
    "sequential": sequential,
    "sequential_one_argument": sequential_one_argument,
    "async_sequential": async_sequential,
    "sequential_otlp": sequential_otlp,
    "dispatch": dispatch,
    "submitted": submitted,
    "gathered": gathered,
    "memory": memory,
}


if __name__ == "__main__":
    name, size = sys.argv[1], int(sys.argv[2])
    result = {"floor": floor(), "figures": WORKLOADS[name](size)}
    print(json.dumps(result))
