"""``flowhook store copy`` streams: its peak memory does not grow with the history.

    python benchmarks/store_copy.py [--runs 5000 50000]

For each size, fills a SQLite store with that many finished flow runs (a task run each, and
hook errors, alerts, a block, crashed runs), then copies it to a new PostgreSQL database on a
server of its own on 127.0.0.1 and back to a new SQLite file, measuring each copy's time and
the peak of Python's allocations during it (tracemalloc). Constant memory shows as the same
peak for every size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests" / part) for part in ("", "store")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[5000, 50000])
    options = parser.parse_args()
    os.environ["FLOWHOOK_DISABLE_PLUGINS"] = "all"

    from postgres_server import start_server
    from store_helpers import fill_history

    from flowhook.store import SQLiteStore, StoreSettings, copy_history, open_store

    server = start_server()
    directory = Path(tempfile.mkdtemp(prefix="flowhook-copy-bench-"))
    try:
        for runs in options.runs:
            source = SQLiteStore(directory / f"source-{runs}.db")
            fill_history(source, runs)
            shared = open_store(
                StoreSettings(home=directory, url=server.new_database(), auto_migrate=True)
            )
            back = SQLiteStore(directory / f"back-{runs}.db")
            for label, frm, to in (
                ("SQLite -> PostgreSQL", source, shared),
                ("back", shared, back),
            ):
                tracemalloc.start()
                started = time.perf_counter()
                copied = copy_history(frm, to)
                took = time.perf_counter() - started
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                rows = sum(copied.values())
                print(
                    f"{runs:7} runs ({rows:7} rows)  {label:21} {took:6.2f} s  "
                    f"peak {peak / 2**20:6.2f} MiB"
                )
            for store in (source, shared, back):
                store.close()
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
