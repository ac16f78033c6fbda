"""One flow of a million task runs, store on: does it run, what it costs, and what reading
its history costs afterwards. Not part of ``run.py`` (it takes minutes).

    python benchmarks/million_runs.py [--tasks 1000000] [--requests 5]

Runs one flow calling a trivial one-argument task ``--tasks`` times, with the SQLite store in
a temporary ``FLOWHOOK_HOME`` and no plugins, then prints: the time per task run and its ratio
to a raw pluggy call measured in the same process, the RSS growth over the flow (``ru_maxrss``),
the size of the store's files, the median time of ``flowhook runs ls`` (a fresh interpreter, as
a user runs it, and the same listing in this process), and one request of each of the UI's
pages served by uvicorn on 127.0.0.1 (the run page of that flow, and the runs list). The targets of issue 26 are
printed beside them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: Issue 26's targets.
RSS_TARGET_MB = 150.0
STORE_TARGET_MB = 1024.0
READ_TARGET_MS = 100.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _store_mb(home: Path) -> float:
    return sum(path.stat().st_size for path in home.glob("flowhook.db*")) / 2**20


def _runs_ls_ms(requests: int) -> dict[str, float]:
    """``flowhook runs ls`` in a fresh interpreter (what a user waits for), and its listing
    alone, in this process."""
    from flowhook.store import RunQuery, open_store

    command = [str(Path(sys.executable).with_name("flowhook")), "runs", "ls"]
    fresh = []
    for _ in range(requests):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        fresh.append(time.perf_counter() - started)
    import_only = []
    for _ in range(requests):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import flowhook.cli"], check=True)
        import_only.append(time.perf_counter() - started)
    store = open_store()
    listed = []
    try:
        for _ in range(requests):
            started = time.perf_counter()
            store.list_flow_runs(RunQuery(limit=20))
            listed.append(time.perf_counter() - started)
    finally:
        store.close()
    return {
        "runs ls, fresh interpreter ms": statistics.median(fresh) * 1000,
        "runs ls, interpreter and import alone ms": statistics.median(import_only) * 1000,
        "runs ls, the store's listing ms": statistics.median(listed) * 1000,
    }


def _ui_pages_ms(settings: Any, run_id: str, timeout: float) -> dict[str, float]:
    """One request of the runs list, then of the run page, served by uvicorn on 127.0.0.1: the
    server's first, so the list's includes what a first request costs at any size. A page that
    takes longer than ``timeout`` is given as that many ms."""
    import uvicorn

    from flowhook.ui import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    figures = {}
    try:
        for name, path in (("UI runs list ms", "/"), ("UI run page ms", f"/runs/{run_id}")):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            started = time.perf_counter()
            try:
                connection.request("GET", path)
                connection.getresponse().read()
                figures[name] = (time.perf_counter() - started) * 1000
            except TimeoutError:
                print(f"  {name}: no answer within {timeout:g} s")
                figures[name] = timeout * 1000
            finally:
                connection.close()
    finally:
        server.should_exit = True
        thread.join(timeout)
    return figures


def _run_flow(tasks: int) -> dict[str, float]:
    """The flow of ``tasks`` task runs, until every state is written: its figures."""
    import workloads

    from flowhook._runtime.attach import flush

    floor = workloads.floor()["pluggy_call_us"]
    many = workloads.sequential_flow(with_argument=True)
    many(100)
    flush()
    before = _rss_mb()
    started = time.perf_counter()
    many(tasks)
    flush()
    seconds = time.perf_counter() - started
    per_task = seconds / tasks * 1e6
    return {
        "seconds": seconds,
        "per task run us": per_task,
        "per task run / pluggy call": per_task / floor,
        "pluggy call us": floor,
        "RSS growth MB": _rss_mb() - before,
    }


def _newest_flow_run() -> str:
    from flowhook.store import RunQuery, open_store

    store = open_store()
    try:
        return str(store.list_flow_runs(RunQuery(limit=1))[0].id)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--page-timeout", type=float, default=120.0)
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="flowhook-million-"))
    os.environ.update(FLOWHOOK_HOME=str(home), FLOWHOOK_DISABLE_PLUGINS="all")
    os.environ.pop("FLOWHOOK_STORE", None)
    os.environ.pop("FLOWHOOK_STORE_URL", None)
    try:
        from flowhook._runtime.attach import detach
        from flowhook.store import load_settings

        figures = _run_flow(options.tasks)
        detach()
        figures["store MB"] = _store_mb(home)
        figures.update(_runs_ls_ms(options.requests))
        pages = _ui_pages_ms(load_settings(), _newest_flow_run(), options.page_timeout)
        figures.update(pages)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    targets = {
        "RSS growth MB": RSS_TARGET_MB,
        "store MB": STORE_TARGET_MB,
        "runs ls, fresh interpreter ms": READ_TARGET_MS,
        "runs ls, the store's listing ms": READ_TARGET_MS,
        "UI run page ms": READ_TARGET_MS,
        "UI runs list ms": READ_TARGET_MS,
    }
    print(f"{options.tasks:,} task runs in one flow, store on (SQLite), no plugins")
    for name, value in figures.items():
        target = targets.get(name)
        note = f"  (target {target:g}: {value / target:.2f} of it)" if target else ""
        print(f"  {name:40} {value:12.2f}{note}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
