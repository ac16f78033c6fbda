"""One flow of a million task runs, store on: does it run, what it costs, and what reading
its history costs afterwards. ``run.py`` runs it as the case "1M task runs in one flow" (it
takes minutes).

    python benchmarks/million_runs.py [--tasks 1000000] [--requests 5] [--keep DIR | --home DIR]
                                      [--postgres]

Runs one flow calling a trivial one-argument task ``--tasks`` times, with the SQLite store in
a temporary ``FLOWHOOK_HOME`` and no plugins, then prints: the time per task run and its ratio
to a raw pluggy call measured in the same process, the RSS growth over the flow (``ru_maxrss``),
the size of the store's files, the median time of ``flowhook runs ls`` and ``flowhook runs show`` (a fresh interpreter,
as a user runs it, and the listing alone in this process), and the UI's pages served by
uvicorn on 127.0.0.1: the first request of the runs list and of the run page of that flow,
then the median of ``--requests`` more of the runs list, the run page (100 task runs and the
counts of all), its JSON and its page of failed task runs. The targets of issue 26 are printed
beside them, and the load average: on a shared machine, the figures are as loaded as it is.
``--keep DIR`` keeps the store; ``--home DIR`` measures the reads of a kept one again.
``--postgres`` does the same on a PostgreSQL store, on a server of its own on 127.0.0.1 (as the
tests start one), and measures the reads again after a ``VACUUM ANALYZE`` (a table autovacuum
has not reached yet cannot be counted from its indexes alone).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from targets import users_environment  # noqa: E402

#: Issue 26's targets.
RSS_TARGET_MB = 150.0
STORE_TARGET_MB = 1024.0
READ_TARGET_MS = 100.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _store_mb(home: Path) -> float:
    url = os.environ.get("FLOWHOOK_STORE_URL")
    if url:
        import psycopg

        with psycopg.connect(url) as db:
            row = db.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) / 2**20 if row else 0.0
    return sum(path.stat().st_size for path in home.glob("flowhook.db*")) / 2**20


def _vacuumed() -> None:
    """``VACUUM ANALYZE`` of the PostgreSQL store's tables: as autovacuum leaves them."""
    import psycopg

    with psycopg.connect(os.environ["FLOWHOOK_STORE_URL"], autocommit=True) as db:
        db.execute("VACUUM ANALYZE")


def _command_ms(command: list[str], requests: int) -> tuple[float, float]:
    """The median wall time of ``command`` in a fresh process, and the median CPU time (user
    and system) it used: the CPU figure is what a quiet machine would wait, nearly. Run once
    first, unmeasured, to write the bytecode cache a user's machine would have."""
    environment = users_environment()
    subprocess.run(command, check=True, capture_output=True, env=environment)
    walls, cpus = [], []
    for _ in range(requests):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=environment)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def _runs_ls_ms(requests: int) -> dict[str, float]:
    """``flowhook runs ls`` in a fresh interpreter (what a user waits for), the interpreter's
    start alone and with the CLI's import, and the listing alone, in this process."""
    from flowhook.store import RunQuery, open_store

    figures = {}
    for name, command in {
        "runs ls, fresh interpreter": [
            str(Path(sys.executable).with_name("flowhook")),
            "runs",
            "ls",
        ],
        "runs ls, interpreter and import alone": [sys.executable, "-c", "import flowhook.cli"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }.items():
        wall, cpu = _command_ms(command, requests)
        figures.update({f"{name} ms": wall, f"{name}, CPU ms": cpu})
    store = open_store()
    listed = []
    try:
        for _ in range(requests):
            started = time.perf_counter()
            store.list_flow_runs(RunQuery(limit=20))
            listed.append(time.perf_counter() - started)
    finally:
        store.close()
    figures["runs ls, the store's listing ms"] = statistics.median(listed) * 1000
    return figures


def _run_detail_cpu_ms(run_id: str, requests: int) -> dict[str, float]:
    """The CPU time of what the run page and ``runs show --json`` read and build, in this
    process: the read model's detail of the flow run (its counts, its first 100 task runs and
    their states) and its JSON."""
    from flowhook.store import open_store
    from flowhook.views import detail_json, find_run, run_detail

    store = open_store()
    took = []
    try:
        for _ in range(requests):
            started = time.process_time()
            detail_json(run_detail(store, find_run(store, run_id)))
            took.append(time.process_time() - started)
    finally:
        store.close()
    return {"run detail and its JSON, CPU in this process ms": statistics.median(took) * 1000}


def _get_ms(port: int, path: str, timeout: float) -> float:
    """One GET of ``path``, read to its end, in ms (``timeout`` in ms if it did not answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.perf_counter()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        return (time.perf_counter() - started) * 1000
    except TimeoutError:
        print(f"  GET {path}: no answer within {timeout:g} s")
        return timeout * 1000
    finally:
        connection.close()


def _ui_pages_ms(settings: Any, run_id: str, timeout: float, requests: int) -> dict[str, float]:
    """The UI's pages served by uvicorn on 127.0.0.1: the first request of the runs list and of
    the run page (the server's first, cold), then the median of ``requests`` more of each page:
    the runs list, the run page of that flow (its first 100 task runs and the counts of all),
    its JSON, and its page of failed task runs."""
    from ui_runs_list import served_ui

    pages = {
        "UI runs list ms": "/",
        "UI run page ms": f"/runs/{run_id}",
        "UI run page JSON ms": f"/api/runs/{run_id}",
        "UI run page, failed task runs ms": f"/runs/{run_id}?state=failed",
    }
    figures = {}
    with served_ui(settings, stop_timeout=timeout) as port:
        for name in ("UI runs list ms", "UI run page ms"):
            figures[f"{name.removesuffix(' ms')}, first request ms"] = _get_ms(
                port, pages[name], timeout
            )
        for name, path in pages.items():
            figures[name] = statistics.median(_get_ms(port, path, timeout) for _ in range(requests))
    return figures


def _runs_show_ms(run_id: str, requests: int) -> dict[str, float]:
    """``flowhook runs show`` of the flow run (its first 100 task runs), a fresh process."""
    command = [str(Path(sys.executable).with_name("flowhook")), "runs", "show", run_id]
    wall, cpu = _command_ms(command, requests)
    return {"runs show, fresh interpreter ms": wall, "runs show, fresh interpreter, CPU ms": cpu}


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


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--page-timeout", type=float, default=120.0)
    parser.add_argument(
        "--home",
        type=Path,
        help="Measure the reads of the store already in this FLOWHOOK_HOME (made by an earlier "
        "run with --keep), without running the flow; it is kept.",
    )
    parser.add_argument(
        "--keep", type=Path, help="Make the store in this FLOWHOOK_HOME and keep it afterwards."
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="A PostgreSQL store, on a server this script starts and stops (not with --home).",
    )
    return parser.parse_args()


def measure(options: argparse.Namespace, home: Path) -> dict[str, float]:
    from flowhook._runtime.attach import detach
    from flowhook.store import load_settings

    figures = {}
    if options.home is None:
        figures = _run_flow(options.tasks)
        detach()
    figures["store MB"] = _store_mb(home)
    run_id = _newest_flow_run()
    figures.update(_runs_ls_ms(options.requests))
    figures.update(_runs_show_ms(run_id, options.requests))
    figures.update(_run_detail_cpu_ms(run_id, options.requests))
    figures.update(_ui_pages_ms(load_settings(), run_id, options.page_timeout, options.requests))
    if options.postgres:
        _vacuumed()
        vacuumed = _run_detail_cpu_ms(run_id, options.requests)
        vacuumed.update(
            _ui_pages_ms(load_settings(), run_id, options.page_timeout, options.requests)
        )
        figures.update({f"{name}, vacuumed": value for name, value in vacuumed.items()})
    figures["load average (1 min) at the end"] = os.getloadavg()[0]
    return figures


def main() -> None:
    options = _options()
    home = options.home or options.keep or Path(tempfile.mkdtemp(prefix="flowhook-million-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(FLOWHOOK_HOME=str(home), FLOWHOOK_DISABLE_PLUGINS="all")
    os.environ.pop("FLOWHOOK_STORE", None)
    os.environ.pop("FLOWHOOK_STORE_URL", None)
    server = None
    if options.postgres:
        if options.home is not None:
            raise SystemExit("--postgres makes its store anew: give it without --home")
        sys.path.insert(0, str(HERE.parent / "tests"))
        from postgres_server import start_server

        server = start_server()
        os.environ.update(FLOWHOOK_STORE_URL=server.new_database(), FLOWHOOK_STORE_AUTO_MIGRATE="1")
    try:
        figures = measure(options, home)
    finally:
        if server is not None:
            server.stop()
        if options.home is None and options.keep is None:
            shutil.rmtree(home, ignore_errors=True)
    targets = {
        "RSS growth MB": RSS_TARGET_MB,
        "store MB": STORE_TARGET_MB,
        "runs ls, fresh interpreter ms": READ_TARGET_MS,
        "runs ls, the store's listing ms": READ_TARGET_MS,
        "UI run page ms": READ_TARGET_MS,
        "UI run page JSON ms": READ_TARGET_MS,
        "UI runs list ms": READ_TARGET_MS,
    }
    backend = "PostgreSQL" if options.postgres else "SQLite"
    print(f"{options.tasks:,} task runs in one flow, store on ({backend}), no plugins")
    for name, value in figures.items():
        target = targets.get(name)
        note = f"  (target {target:g}: {value / target:.2f} of it)" if target else ""
        print(f"  {name:40} {value:12.2f}{note}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
