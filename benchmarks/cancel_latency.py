"""How soon a run enters Cancelling after ``flowhook runs cancel`` is started, on one machine.

    python benchmarks/cancel_latency.py [--trials 10] [--backends sqlite postgres]

For each trial, starts a flow process (its tasks run for a minute), waits for its run, then
starts ``flowhook runs cancel ID`` and polls the store (every 5 ms) until the run's state is
Cancelling. Prints the median and the worst of: the command's wall time (from just before it is
spawned until it exits), its CPU time (which a loaded machine does not inflate) and the latency
(from just before it is spawned until Cancelling is recorded). PostgreSQL is a server of its own on 127.0.0.1 and its flow processes beat every
30 s, so only LISTEN/NOTIFY can be this fast; SQLite's flow processes read cancel requests at
their heartbeat, set here to 0.25 s (its default is 10 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests" / part) for part in ("", "store")]

FLOWHOOK = str(Path(sys.executable).parent / "flowhook")


def trial(directory: Path, env: dict[str, str], number: int) -> tuple[float, float, float]:
    """(the command's wall time, its CPU time, the latency to Cancelling), in seconds."""
    from store_helpers import start_cancellable

    from flowhook.store import RunQuery, load_settings, open_store

    marker = directory / f"marker-{number}"
    child = start_cancellable(directory, marker, env)
    store = open_store(load_settings(env))
    try:
        while not marker.exists():
            time.sleep(0.01)
        time.sleep(0.5)  # the process's heartbeat thread is up (and listening)
        run = None
        while run is None:
            listed = store.list_flow_runs(RunQuery(limit=1))
            run = next((r for r in listed if r.state_name == "Running"), None)
        started = time.perf_counter()
        command = subprocess.Popen(
            [FLOWHOOK, "runs", "cancel", run.id], env=env, stdout=subprocess.DEVNULL
        )
        seen = None
        while seen is None:
            record = store.get_run("flow", run.id)
            if record is not None and record.state_name in ("Cancelling", "Cancelled"):
                seen = time.perf_counter()
            else:
                time.sleep(0.005)
        _, status, usage = os.wait4(command.pid, 0)
        ended = time.perf_counter()
        command.returncode = os.waitstatus_to_exitcode(status)
        assert command.returncode == 0, "flowhook runs cancel failed"
        return ended - started, usage.ru_utime + usage.ru_stime, seen - started
    finally:
        store.close()
        child.kill()
        child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    options = parser.parse_args()
    from postgres_server import start_server

    directory = Path(tempfile.mkdtemp(prefix="flowhook-cancel-bench-"))
    server = start_server() if "postgres" in options.backends else None
    try:
        for backend in options.backends:
            env = {**os.environ, "FLOWHOOK_HOME": str(directory / backend)}
            env.pop("FLOWHOOK_STORE_URL", None)
            if backend == "postgres":
                assert server is not None
                env.update(
                    FLOWHOOK_STORE_URL=server.new_database(),
                    FLOWHOOK_STORE_AUTO_MIGRATE="1",
                    FLOWHOOK_HEARTBEAT_SECONDS="30",
                )
            else:
                env["FLOWHOOK_HEARTBEAT_SECONDS"] = "0.25"
            figures = [trial(directory, env, n) for n in range(options.trials)]
            walls, cpus, latencies = zip(*figures, strict=True)
            print(
                f"{backend:9} the command: wall median {statistics.median(walls):.3f} s (worst "
                f"{max(walls):.3f}), CPU median {statistics.median(cpus):.3f} s;  Cancelling "
                f"after: median {statistics.median(latencies):.3f} s, worst "
                f"{max(latencies):.3f} s ({options.trials} trials)"
            )
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.directory, ignore_errors=True)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
