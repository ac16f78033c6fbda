"""PostgreSQL faults survived, with real processes and the session's real server: a restart under
four flow processes, a ``watch`` and the UI; connections dropped mid-batch; the network cut
(a proxy that holds every connection); the database read-only or full.

Each scenario prints its figures (runs, states, alerts, reconnects, seconds to recover), the
ones docs/store.md gives. The cut lasts ``FLOWHOOK_TEST_CUT_SECONDS`` (20 s by default, to keep
CI short; the issue's 60 s with ``FLOWHOOK_TEST_CUT_SECONDS=60``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from postgres_server import PostgresServer
from store_helpers import FLOWHOOK, environment, wait_for, write_module
from tcp_proxy import LosingProxy

from flowhook.store import RunQuery, Store, open_store

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

CUT_SECONDS = float(os.environ.get("FLOWHOOK_TEST_CUT_SECONDS", "20"))
LOST = "lost the connection to the flowhook database"
BACK = re.compile(r"the connection to the flowhook database \S+ is back after ([0-9.]+) s")

#: Runs ``argv[2]`` flows of 6 tasks (or fewer: until ``<argv[1]>.stop`` exists), every fourth
#: failing (an alert), counting them in ``<argv[1]>.progress``.
WORKER = """
    import sys, time
    from pathlib import Path
    from flowhook import flow, task

    marker, runs = sys.argv[1], int(sys.argv[2])
    pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0.02

    @task
    def step(i: int) -> int:
        time.sleep(pause)
        return i

    @flow
    def job(i: int) -> int:
        total = sum(step(k) for k in range(6))
        if i % 4 == 3:
            raise ValueError(f"job {i} went wrong")
        return total

    if __name__ == "__main__":
        for i in range(runs):
            if Path(marker + ".stop").exists():
                break
            try:
                job(i)
            except ValueError:
                pass
            Path(marker + ".next").write_text(str(i + 1))
            Path(marker + ".next").replace(marker + ".progress")  # never read half-written
"""

FAILED_RULE = """
[[notifications]]
on = ["Failed"]
blocks = ["slack-webhook/ops"]

[blocks."slack-webhook/ops"]
url = "{url}"
"""


class Process:
    """A subprocess whose stderr goes to a file, read at the end."""

    #: Every one started by the running test, killed at its end if still alive.
    spawned: list[subprocess.Popen[str]] = []

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._err: IO[str] = log.open("w")
        self.popen = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=self._err, text=True
        )
        self.spawned.append(self.popen)

    def finish(self, timeout: float, interrupt: bool = False) -> str:
        if interrupt and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout=timeout)
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait()
            self._err.close()
        return self.log.read_text()


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    yield
    while Process.spawned:
        popen = Process.spawned.pop()
        if popen.poll() is None:
            popen.kill()
            popen.wait()


def _progress(marker: Path) -> int:
    try:
        return int(Path(f"{marker}.progress").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def worker(modules: Path) -> Path:
    return write_module(modules, "pg_worker", WORKER)


def _env(modules: Path, tmp_path: Path, home: Path, url: str, **extra: str) -> dict[str, str]:
    config = tmp_path / "flowhook.toml"
    config.write_text(FAILED_RULE.format(url=url))
    return environment(modules, FLOWHOOK_CONFIG=str(config), FLOWHOOK_HOME=str(home), **extra)


def _start_workers(
    worker: Path, tmp_path: Path, env: dict[str, str], count: int, runs: int, pause: float = 0.02
) -> list[tuple[Path, Process]]:
    started = []
    for index in range(count):
        marker = tmp_path / f"worker-{index}"
        command = [sys.executable, str(worker), str(marker), str(runs), str(pause)]
        started.append((marker, Process(command, env, tmp_path / f"worker-{index}.err")))
    return started


def _history(store: Store) -> tuple[dict[str, int], set[str], int, int]:
    """(flow runs by state, the ids of the failed ones, task runs Completed, state events).

    Failed runs are told apart by id: two runs may get the same generated name."""
    runs = store.list_flow_runs(RunQuery(limit=10_000))
    by_state = Counter(run.state_name for run in runs)
    failed = {str(run.id) for run in runs if run.state_name == "Failed"}
    tasks = sum(
        1
        for run in runs
        for task in store.task_run_page(run.id, limit=1000)
        if task.state_name == "Completed"
    )
    events = int(store.count_events())  # type: ignore[attr-defined]
    return dict(by_state), failed, tasks, events


def _alerts(requests: list, failed: set[str]) -> Counter[str]:
    """How many alerts name each of the run ids ``failed``."""
    texts = [request.json()["text"] for request in requests]
    return Counter(run_id for text in texts for run_id in failed if f"Run id: {run_id}" in text)


def _deliver_the_rest(env: dict[str, str], store: Store) -> None:
    """What the exited processes left in the outbox (their exit line says so: due later, or
    claimed by another one that exited) is sent by `flowhook deliver`, as a user would."""
    delivered = subprocess.run(
        [FLOWHOOK, "deliver"], env=env, capture_output=True, text=True, timeout=120
    )
    assert delivered.returncode == 0, delivered.stderr
    left = [(m.id, m.status, m.attempts) for m in store.list_outbox(limit=1000)]
    assert {status for _, status, _ in left} <= {"sent"}, (left, delivered.stdout)


def _recovered(log: str) -> list[float]:
    return [float(seconds) for seconds in BACK.findall(log)]


@pytest.fixture
def ui_poller() -> Iterator[tuple[int, list[int]]]:
    """A port for ``flowhook ui`` and a thread that asks it for the runs page every 0.1 s:
    the HTTP status of each answer (0: no answer), so that it reads during the fault too."""
    port = _free_port()
    statuses: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.1):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    statuses.append(answer.status)
            except Exception as exc:  # the server not up yet, or an error page
                statuses.append(getattr(exc, "code", 0))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    yield port, statuses
    stop.set()
    thread.join(10)


# -- the server restarted ------------------------------------------------------------------------


def test_a_server_restart_under_four_flow_processes_a_watch_and_the_ui(
    postgres_server: PostgresServer,
    worker: Path,
    modules: Path,
    tmp_path: Path,
    flowhook_home: Path,
    ui_poller: tuple[int, list[int]],
) -> None:
    from flowhook_testing import SlackWebhookServer

    port, statuses = ui_poller
    runs_each = 12
    with SlackWebhookServer() as slack:
        env = _env(modules, tmp_path, flowhook_home, slack.url)
        open_store().close()  # the schema, before four processes race to make it
        workers = _start_workers(worker, tmp_path, env, 4, runs_each)
        watch = Process([FLOWHOOK, "watch", "--interval", "0.2"], env, tmp_path / "watch.err")
        ui = Process([FLOWHOOK, "ui", "--port", str(port)], env, tmp_path / "ui.err")
        try:
            wait_for(lambda: statuses.count(200) >= 2, what="the UI to serve")
            wait_for(
                lambda: all(_progress(marker) >= 2 for marker, _ in workers),
                timeout=60,
                what="every worker to run flows",
            )
            postgres_server.restart()
            restarted = len(statuses)
            worker_logs = [process.finish(timeout=120) for _, process in workers]
            codes = [process.popen.returncode for _, process in workers]
            store = open_store()
            try:
                wait_for(
                    lambda: {m.status for m in store.list_outbox(limit=1000)} == {"sent"},
                    what="every alert to be sent",
                )
                time.sleep(1.0)  # a late second send would arrive now
                wait_for(lambda: statuses[restarted:].count(200) >= 2, what="the UI to serve")
                by_state, failed, tasks, events = _history(store)
            finally:
                store.close()
        finally:
            watch_log = watch.finish(timeout=30, interrupt=True)
            ui_log = ui.finish(timeout=30, interrupt=True)
        alerts = _alerts(slack.requests, failed)

    logs = {**{f"worker {i}": log for i, log in enumerate(worker_logs)}}
    logs.update({"watch": watch_log, "ui": ui_log})
    figures = {
        "runs": sum(by_state.values()),
        "task runs": tasks,
        "states": events,
        "alerts": sum(alerts.values()),
        "reconnects": sum(len(_recovered(log)) for log in logs.values()),
        "seconds to recover (worst)": max(s for log in logs.values() for s in _recovered(log)),
    }
    print("server restart:", figures)
    assert codes == [0] * 4, worker_logs
    expected_runs = 4 * runs_each
    assert by_state == {"Completed": expected_runs * 3 // 4, "Failed": expected_runs // 4}
    assert tasks == expected_runs * 6
    assert len(failed) == expected_runs // 4
    assert sorted(alerts.values()) == [1] * len(failed), alerts
    for name, log in logs.items():  # each one said it once each way, if it saw it
        # The flow processes write all along, so they see the restart; `watch` and the UI may
        # happen to ask nothing while the server is down, and then have nothing to say.
        seen = 1 if name.startswith("worker") else log.count(LOST)
        assert log.count(LOST) == seen <= 1, (name, log)
        assert len(_recovered(log)) == seen, (name, log)
        assert "Traceback" not in log, (name, log)


# -- the network cut -----------------------------------------------------------------------------


@pytest.fixture
def proxy(postgres_server: PostgresServer) -> Iterator[LosingProxy]:
    through = LosingProxy(postgres_server.port)
    yield through
    through.restore()
    through.close()


def _completed_runs(store: Store, processes: set[int]) -> int:
    """The flow runs of ``processes`` (their ids in the store) that ended."""
    runs = store.list_flow_runs(RunQuery(limit=10_000))
    return sum(1 for run in runs if run.end_time is not None and run.process_id in processes)


def _running_tasks(store: Store, flow_name: str) -> list[str]:
    """The names of the task runs the store shows Running in the runs of ``flow_name``."""
    runs = store.list_flow_runs(RunQuery(flow_name=flow_name))
    return [
        t.name
        for r in runs
        for t in store.task_run_page(r.id, limit=1000)
        if t.state_name == "Running"
    ]


def _process_ids(store: Store, *processes: Process) -> set[int]:
    pids = {process.popen.pid for process in processes}
    rows = store._read("SELECT id, pid FROM processes")  # type: ignore[attr-defined]
    return {int(row[0]) for row in rows if row[1] in pids}


def test_the_network_cut_runs_go_on_and_their_states_are_written_after(
    proxy: LosingProxy, worker: Path, modules: Path, tmp_path: Path, flowhook_home: Path
) -> None:
    """Two flow processes through a proxy that holds every connection for ``CUT_SECONDS``; a
    third keeps at most 100 writes in memory (``FLOWHOOK_HELD_BACK_LIMIT``)."""
    from flowhook_testing import SlackWebhookServer

    with SlackWebhookServer() as slack:
        env = _env(
            modules,
            tmp_path,
            flowhook_home,
            slack.url,
            FLOWHOOK_STORE_URL=proxy.url(os.environ["FLOWHOOK_STORE_URL"]),
            FLOWHOOK_LOCK_TIMEOUT_SECONDS="2",
        )
        store = open_store()  # directly, not through the proxy
        workers = _start_workers(worker, tmp_path, env, 2, 10_000, pause=0.05)
        capped_env = {**env, "FLOWHOOK_HELD_BACK_LIMIT": "100"}
        capped = _start_workers(worker, tmp_path / "capped", capped_env, 1, 10_000, 0.05)
        everyone = [*workers, *capped]
        try:
            wait_for(
                lambda: all(_progress(marker) >= 2 for marker, _ in everyone),
                timeout=60,
                what="every worker to run flows",
            )
            uncapped = _process_ids(store, *(process for _, process in workers))
            assert len(uncapped) == 2
            proxy.cut()
            before = [_progress(marker) for marker, _ in everyone]
            time.sleep(CUT_SECONDS)
            during = [
                _progress(marker) - b for (marker, _), b in zip(everyone, before, strict=True)
            ]
            proxy.restore()
            restored = time.monotonic()
            # Everything the two uncapped workers ran is in the store soon after.
            wait_for(
                lambda: (
                    _completed_runs(store, uncapped)
                    >= sum(_progress(marker) for marker, _ in workers)
                ),
                timeout=60,
                what="the held-back states to be written",
            )
            recovered = time.monotonic() - restored
            for marker, _ in everyone:
                Path(f"{marker}.stop").write_text("stop")
            logs = [process.finish(timeout=120) for _, process in workers]
            capped_log = capped[0][1].finish(timeout=120)
            _deliver_the_rest(env, store)
            time.sleep(1.0)  # a late second send would arrive now
            by_state, failed, tasks, events = _history(store)
            ran = sum(_progress(marker) for marker, _ in workers)
            assert _completed_runs(store, uncapped) == ran
            uncapped_failed = {
                str(run.id)
                for run in store.list_flow_runs(RunQuery(limit=10_000))
                if run.state_name == "Failed" and run.process_id in uncapped
            }
        finally:
            store.close()
        alerts = _alerts(slack.requests, failed)
        uncapped_alerts = _alerts(slack.requests, uncapped_failed)
    figures = {
        "cut (s)": CUT_SECONDS,
        "runs during the cut": sum(during),
        "runs": sum(by_state.values()),
        "task runs": tasks,
        "states": events,
        "alerts": sum(alerts.values()),
        "seconds to recover": round(recovered, 1),
    }
    print("network cut:", figures)
    assert all(count >= 2 for count in during), during  # runs went on during the cut
    assert [process.popen.returncode for _, process in workers] == [0, 0], logs
    for log in logs:
        assert log.count(LOST) == 1 and len(_recovered(log)) == 1, log
        assert "were not recorded" not in log and "Traceback" not in log, log
    assert by_state.get("Crashed", 0) == 0, by_state
    assert sorted(alerts.values()) == [1] * len(alerts), alerts  # none twice
    assert sorted(uncapped_alerts.values()) == [1] * len(uncapped_failed), uncapped_alerts
    # Past the cap: one line, the oldest writes dropped and counted at exit, never a hang.
    assert capped[0][1].popen.returncode == 0, capped_log
    assert capped_log.count("the oldest are dropped from now on") == 1, capped_log
    assert "were not recorded" in capped_log and "Traceback" not in capped_log, capped_log


# -- the database full, then read-only ------------------------------------------------------------

#: "Full" as PostgreSQL says it when it cannot extend a file (SQLSTATE 53100, disk_full), raised
#: by a trigger on the run tables: a real full disk would stop the whole test server.
DISK_FULL = """
CREATE FUNCTION pretend_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'could not extend file "base/16384/16385": No space left on device'
        USING ERRCODE = 'disk_full';
END $$;
CREATE TRIGGER full_flow_runs BEFORE INSERT OR UPDATE ON flow_runs
    FOR EACH STATEMENT EXECUTE FUNCTION pretend_disk_full();
CREATE TRIGGER full_task_runs BEFORE INSERT OR UPDATE ON task_runs
    FOR EACH STATEMENT EXECUTE FUNCTION pretend_disk_full();
"""
NOT_FULL = "DROP FUNCTION pretend_disk_full() CASCADE"


def _admin(url: str, *statements: str) -> None:
    """Run ``statements`` on a session of their own, writable whatever the database's default."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        for statement in statements:
            conn.execute(statement)


def _read_only(url: str, on: bool) -> None:
    database = url.rsplit("/", 1)[1]
    setting = (
        "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    )
    statements = [f"ALTER DATABASE {database} {setting}"]
    if on:  # a setting of the database applies to new sessions: end the others
        statements.append(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
    _admin(url, *statements)


def test_the_database_full_then_read_only_runs_go_on_and_nothing_is_lost(
    worker: Path, modules: Path, tmp_path: Path, flowhook_home: Path
) -> None:
    from flowhook_testing import SlackWebhookServer

    url = os.environ["FLOWHOOK_STORE_URL"]
    with SlackWebhookServer() as slack:
        env = _env(modules, tmp_path, flowhook_home, slack.url, FLOWHOOK_LOCK_TIMEOUT_SECONDS="2")
        store = open_store()
        [(marker, process)] = _start_workers(worker, tmp_path, env, 1, 10_000, pause=0.05)
        try:
            wait_for(lambda: _progress(marker) >= 2, timeout=60, what="the worker to run flows")
            ids = _process_ids(store, process)
            recovery = []
            for start, end in (
                (lambda: _admin(url, DISK_FULL), lambda: _admin(url, NOT_FULL)),
                (lambda: _read_only(url, True), lambda: _read_only(url, False)),
            ):
                start()
                before = _progress(marker)
                time.sleep(4)
                assert _progress(marker) - before >= 3  # the runs went on
                end()
                ended = time.monotonic()
                wait_for(
                    lambda: _completed_runs(store, ids) >= _progress(marker),
                    timeout=30,
                    what="the held-back states to be written",
                )
                recovery.append(round(time.monotonic() - ended, 1))
            Path(f"{marker}.stop").write_text("stop")
            log = process.finish(timeout=120)
            _deliver_the_rest(env, store)  # a send whose record was refused is sent again
            by_state, failed, tasks, events = _history(store)
        finally:
            store.close()
        alerts = _alerts(slack.requests, failed)
    figures = {
        "runs": sum(by_state.values()),
        "task runs": tasks,
        "states": events,
        "alerts": sum(alerts.values()),
        "alerts sent twice": sum(alerts.values()) - len(failed),
        "seconds to recover (full, read-only)": recovery,
    }
    print("database full, then read-only:", figures)
    assert process.popen.returncode == 0, log
    assert set(by_state) <= {"Completed", "Failed"} and sum(by_state.values()) == _progress(marker)
    assert tasks == 6 * sum(by_state.values())
    assert set(alerts) == failed  # none lost
    # Sent twice: only a send whose record ("sent") the read-only database refused. The
    # process's sender stops at that refusal and claims nothing more until the database takes
    # writes: at most one per process and read-only spell.
    assert sum(alerts.values()) - len(failed) <= 1, (alerts, log)
    full = [line for line in log.splitlines() if "No space left on device" in line]
    assert len(full) == 1 and "takes no writes now" in full[0], log
    # The writer says it at most once a minute (it said "full" already); the heartbeat and the
    # delivery once each, whatever the number of attempts.
    read_only = [line for line in log.splitlines() if "read-only transaction" in line]
    assert 1 <= len(read_only) <= 3, log
    assert all("takes no writes now" in line for line in read_only), log
    assert log.count("takes writes again") == 2, log
    assert "were not recorded" not in log and "Traceback" not in log, log


# -- connections dropped mid-transaction -----------------------------------------------------------

#: A flow whose task writes ``argv[1]`` and then runs until killed.
VICTIM = """
    import sys, time
    from pathlib import Path
    from flowhook import flow, task

    @task
    def hang(marker: str) -> None:
        Path(marker).write_text("started")
        time.sleep(600)

    @flow(name="victim")
    def victim(marker: str) -> None:
        hang(marker)

    if __name__ == "__main__":
        import pg_victim
        pg_victim.victim(sys.argv[1])
"""

#: Statements that only a batch, a claim and ``crash_runs`` send (before psycopg prepares them).
MID_BATCH = b"INSERT INTO state_events"
MID_CLAIM = b"SKIP LOCKED"
MID_CRASH = b"end_time IS NULL ORDER BY created DESC"


def test_connections_dropped_mid_batch_mid_claim_and_mid_crash_runs(
    proxy: LosingProxy, worker: Path, modules: Path, tmp_path: Path, flowhook_home: Path
) -> None:
    from flowhook_testing import SlackWebhookServer

    victim_script = write_module(modules, "pg_victim", VICTIM)
    with SlackWebhookServer() as slack:
        env = _env(
            modules,
            tmp_path,
            flowhook_home,
            slack.url,
            FLOWHOOK_STORE_URL=proxy.url(os.environ["FLOWHOOK_STORE_URL"]),
        )
        (tmp_path / "flowhook.toml").write_text(
            FAILED_RULE.format(url=slack.url).replace('["Failed"]', '["Failed", "Crashed"]')
        )
        store = open_store()
        proxy.drop_on(MID_BATCH, MID_CLAIM, MID_CRASH)
        workers = _start_workers(worker, tmp_path, env, 2, 8)
        started = tmp_path / "victim.started"
        victim = Process(
            [sys.executable, str(victim_script), str(started)], env, tmp_path / "victim.err"
        )
        watch: Process | None = None
        logs: list[str] = []
        try:
            wait_for(started.exists, what="the victim's task to start")
            wait_for(
                lambda: _running_tasks(store, "victim"),
                timeout=60,
                what="the victim's running task run to be recorded",
            )
            victim.popen.kill()
            victim.finish(timeout=30)
            watch = Process([FLOWHOOK, "watch", "--interval", "0.2"], env, tmp_path / "watch.err")
            logs += [process.finish(timeout=120) for _, process in workers]
            wait_for(
                lambda: (
                    [r.state_name for r in store.list_flow_runs(RunQuery(flow_name="victim"))]
                    == ["Crashed"]
                ),
                what="the victim to be reaped",
            )
            wait_for(
                lambda: {m.status for m in store.list_outbox(limit=1000)} == {"sent"},
                what="every alert to be sent",
            )
            time.sleep(1.0)  # a late second send would arrive now
            by_state, failed, tasks, events = _history(store)
            [crashed] = store.list_flow_runs(RunQuery(flow_name="victim"))
            crash_events = [e.name for e in store.events(crashed.id, crashed.id)].count("Crashed")
        finally:
            if watch is not None:
                logs.append(watch.finish(timeout=30, interrupt=True))
            store.close()
        alerts = _alerts(slack.requests, {*failed, str(crashed.id)})
    figures = {
        "dropped": [text.decode() for text in proxy.dropped],
        "runs": sum(by_state.values()),
        "task runs": tasks,
        "states": events,
        "alerts": sum(alerts.values()),
        "reconnects": sum(len(_recovered(log)) for log in logs),
    }
    print("connections dropped:", figures)
    assert sorted(proxy.dropped) == sorted([MID_BATCH, MID_CLAIM, MID_CRASH])
    assert by_state == {"Completed": 12, "Failed": 4, "Crashed": 1}, by_state
    assert crash_events == 1
    assert sorted(alerts.values()) == [1] * 5, alerts
    for log in logs:  # each loss said once, and its end
        assert log.count(LOST) == len(_recovered(log)), log
        assert "Traceback" not in log, log
