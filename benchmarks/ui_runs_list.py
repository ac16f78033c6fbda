"""The web UI's pages on a large store: the runs list of a store with 100,000 task runs.

    python benchmarks/ui_runs_list.py [--flows 1000] [--tasks 100] [--requests 20]
                                      [--store sqlite|postgres|both]

Writes ``--flows`` finished flow runs of ``--tasks`` task runs each (1 in 10 failed) straight
through the store's write API, in batches, as the recorder would (no flow is run: that would
time the engine), then serves the UI with uvicorn on 127.0.0.1 and times ``--requests``
requests of each page over HTTP: the runs list (its first page, a filtered one, an older page),
and the page of one flow run with its task runs and timeline. Figures are medians, with the
target of the runs list (300 ms) as a ratio. PostgreSQL runs on a server the script starts, as
the tests do.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

TARGET_MS = 300.0


def fill(store: Any, flows: int, tasks: int) -> str:
    """Write the history; returns the id of one flow run (the newest)."""
    from flowhook import states
    from flowhook.store import NewRun, Transition

    start = time.time() - flows * 60.0
    newest = ""
    for index in range(flows):
        flow_id = uuid.uuid4()
        created = start + index * 60.0
        failed = index % 10 == 3
        end = states.Failed() if failed else states.Completed()
        writes: list[Any] = [
            NewRun("flow", flow_id, f"run-{index}", f"flow-{index % 20}", None, created, None),
            Transition("flow", flow_id, flow_id, states.Running(), 1, None, None),
        ]
        for number in range(tasks):
            task_id = uuid.uuid4()
            running = states.Running()
            task_end = states.Failed() if failed and number == tasks - 1 else states.Completed()
            writes += [
                NewRun(
                    "task",
                    task_id,
                    f"step-{number}",
                    "step",
                    None,
                    created + number * 0.1,
                    None,
                    flow_id,
                ),
                Transition("task", task_id, flow_id, running, 1, running.timestamp, None),
                Transition(
                    "task",
                    task_id,
                    flow_id,
                    task_end,
                    1,
                    running.timestamp,
                    task_end.timestamp,
                ),
            ]
        writes.append(Transition("flow", flow_id, flow_id, end, 1, None, end.timestamp))
        store.write(writes)
        newest = str(flow_id)
    return newest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(port: int, path: str) -> tuple[float, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read().decode()
    took = time.perf_counter() - started
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {body[:200]}")
    return took, body


@contextlib.contextmanager
def served_ui(settings: Any, stop_timeout: float = 10) -> Iterator[int]:
    """The UI of ``settings``' store, served by uvicorn on 127.0.0.1 in this process: its port."""
    import uvicorn

    from flowhook.ui import create_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=_free_port(), log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield server.config.port
    finally:
        server.should_exit = True
        thread.join(stop_timeout)


def time_pages(settings: Any, run_id: str, requests: int) -> dict[str, float]:
    """Median milliseconds of each page, served by uvicorn in this process."""
    with served_ui(settings) as port:
        _, first = _get(port, "/")
        older = re.search(r'href="[^"]*(\?before=[^"]+)"', first)
        pages = {
            "runs list": "/",
            "runs list, state=failed": "/?state=failed",
            "runs list, one flow": "/?flow=flow-7",
            "runs list, older page": "/" + (older.group(1).replace("&amp;", "&") if older else ""),
            "run page": f"/runs/{run_id}",
        }
        figures = {}
        for name, path in pages.items():
            _get(port, path)  # warm
            times = [_get(port, path)[0] for _ in range(requests)]
            figures[name] = statistics.median(times) * 1000
        return figures


def measure(name: str, env: dict[str, str], options: argparse.Namespace) -> dict[str, float]:
    from flowhook.store import load_settings, open_store

    settings = load_settings({**os.environ, **env})
    store = open_store(settings)
    try:
        started = time.perf_counter()
        run_id = fill(store, options.flows, options.tasks)
        written = time.perf_counter() - started
    finally:
        store.close()
    figures = time_pages(settings, run_id, options.requests)
    figures["fill seconds"] = written
    print(
        f"{name}: {options.flows:,} flow runs x {options.tasks} task runs "
        f"({options.flows * options.tasks:,} task runs), written in {written:.1f} s"
    )
    for page, ms in figures.items():
        if page != "fill seconds":
            ratio = f"  ({ms / TARGET_MS:.2f} of the 300 ms target)" if "list" in page else ""
            print(f"  {page:28} {ms:8.1f} ms{ratio}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    options = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    home = tempfile.mkdtemp(prefix="flowhook-ui-bench-")
    try:
        if options.store in ("sqlite", "both"):
            results["sqlite"] = measure("SQLite", {"FLOWHOOK_HOME": f"{home}/sqlite"}, options)
        if options.store in ("postgres", "both"):
            from postgres_server import start_server

            server = start_server()
            try:
                url = server.new_database()
                env = {
                    "FLOWHOOK_HOME": f"{home}/pg",
                    "FLOWHOOK_STORE_URL": url,
                    "FLOWHOOK_STORE_AUTO_MIGRATE": "1",
                }
                results["postgres"] = measure("PostgreSQL", env, options)
            finally:
                server.stop()
                shutil.rmtree(server.directory, ignore_errors=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if options.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
