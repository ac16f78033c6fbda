"""Delivery across real processes: the exit drain waits for retries within its budget, leftovers
go out without a daemon (the next flow process, `flowhook deliver`, `runs reap`), and a message
whose plugin is missing waits for it instead of going dead."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from flowhook_testing import SlackWebhookServer, WebhookResponse

from .conftest import KILLED_AFTER_FAILURE, environment

FAILING_JOB = """
from flowhook import flow

@flow(name="etl-nightly", flow_run_name="doomed")
def etl():
    raise ValueError("disk full")

etl(return_state=True)
"""


KILLED_WHILE_RUNNING = """
import os, signal
from flowhook import flow

@flow(name="etl-nightly", flow_run_name="cut-short")
def etl():
    os.kill(os.getpid(), signal.SIGKILL)

etl()
"""

QUIET_JOB = """
from flowhook import flow

flow(name="report", flow_run_name="quiet")(lambda: 1)()
"""

FLOWHOOK = str(Path(sys.executable).parent / "flowhook")


def run_job(tmp_path: Path, code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / f"job{abs(hash(code))}.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )


def flowhook(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLOWHOOK, *args], env=env, capture_output=True, text=True, timeout=60)


def outbox(env: dict[str, str]) -> list[dict]:
    listing = flowhook(env, "outbox", "ls", "--json")
    assert listing.returncode == 0, listing.stderr
    return json.loads(listing.stdout)


def successes(server: SlackWebhookServer) -> int:
    return sum(1 for request in server.requests if "doomed is Failed" in request.text)


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    [[(429, {"Retry-After": "1"}), "ok"], [500, 500, "ok"]],
    ids=["429-retry-after-1", "500-500-ok"],
)
def test_the_exit_drain_waits_for_retries_within_its_budget(tmp_path: Path, script: list) -> None:
    with SlackWebhookServer(*script) as server:
        env = environment(tmp_path, server.url, FLOWHOOK_DELIVERY_DRAIN_SECONDS="20")
        job = run_job(tmp_path, FAILING_JOB, env)
        assert job.returncode == 0, job.stderr
        assert len(server.requests) == len(script)  # every answer was asked for before the exit
        assert "doomed is Failed" in server.requests[-1].json()["text"]
    assert [message["status"] for message in outbox(env)] == ["sent"]
    assert "still pending" not in job.stderr


@pytest.mark.slow
def test_the_exit_drain_outlasts_a_service_that_refuses_connections_for_2_s(
    tmp_path: Path,
) -> None:
    server = SlackWebhookServer().start()
    url = server.url
    server.stop()  # connections are refused until it starts again, on the same port
    restart = threading.Timer(2.0, server.start)
    restart.start()
    try:
        env = environment(tmp_path, url, FLOWHOOK_DELIVERY_DRAIN_SECONDS="20")
        started = time.monotonic()
        job = run_job(tmp_path, FAILING_JOB, env)
        assert job.returncode == 0, job.stderr
        assert time.monotonic() - started > 2.0
        assert successes(server) == len(server.requests) == 1
    finally:
        restart.cancel()
        restart.join()
        server.stop()
    assert [message["status"] for message in outbox(env)] == ["sent"]


@pytest.mark.slow
def test_a_retry_due_after_the_drain_budget_is_left_pending_with_one_line(tmp_path: Path) -> None:
    with SlackWebhookServer((429, {"Retry-After": "30"}), "ok") as server:
        env = environment(tmp_path, server.url, FLOWHOOK_DELIVERY_DRAIN_SECONDS="2")
        started = time.monotonic()
        job = run_job(tmp_path, FAILING_JOB, env)
        assert job.returncode == 0, job.stderr
        assert time.monotonic() - started < 20  # it did not wait 30 s
        assert len(server.requests) == 1
    [warning] = [line for line in job.stderr.splitlines() if "still pending" in line]
    assert "Delivered 0 notifications; 1 still pending; the next attempt is due at" in warning
    assert "flowhook deliver" in warning
    assert [message["status"] for message in outbox(env)] == ["pending"]


@pytest.mark.slow
def test_the_next_flow_process_delivers_what_a_killed_one_left(tmp_path: Path) -> None:
    server = SlackWebhookServer().start()
    try:
        env = environment(tmp_path, server.url)
        server.stop()  # the killed process's delivery thread, racing its death, cannot send it
        killed = run_job(tmp_path, KILLED_AFTER_FAILURE, env)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert [message["status"] for message in outbox(env)] == ["pending"]
        server.start()
        later = run_job(tmp_path, QUIET_JOB, env)  # no failure, no alert of its own
        assert later.returncode == 0, later.stderr
        assert successes(server) == 1
    finally:
        server.stop()
    assert [message["status"] for message in outbox(env)] == ["sent"]


@pytest.mark.slow
def test_flowhook_deliver_sends_leftovers_once_and_says_so(tmp_path: Path) -> None:
    with SlackWebhookServer() as server:
        env = environment(tmp_path, server.url)
        server.stop()  # the killed process's delivery thread, racing its death, cannot send it
        assert run_job(tmp_path, KILLED_AFTER_FAILURE, env).returncode == -signal.SIGKILL
        server.start()
        # --within: if that thread did try before its death, the retry is due a moment later
        first = flowhook(env, "deliver", "--within", "30")
        assert (first.returncode, first.stdout) == (0, "Delivered 1 notification; none pending.\n")
        again = flowhook(env, "deliver")
        assert (again.returncode, again.stdout) == (0, "Delivered 0 notifications; none pending.\n")
        assert successes(server) == 1


@pytest.mark.slow
def test_flowhook_deliver_exits_1_when_retries_outlast_within(tmp_path: Path) -> None:
    with SlackWebhookServer(default=500) as server:
        env = environment(tmp_path, server.url)
        assert run_job(tmp_path, KILLED_AFTER_FAILURE, env).returncode == -signal.SIGKILL
        result = flowhook(env, "deliver", "--within", "1")
        assert result.returncode == 1, result.stderr
        assert result.stdout.startswith("Delivered 0 notifications; 1 still pending")
        assert len(server.requests) >= 1
        server.respond("ok")
        assert flowhook(env, "deliver", "--within", "30").returncode == 0
        assert "doomed is Failed" in server.requests[-1].json()["text"]


@pytest.mark.slow
def test_flowhook_deliver_without_a_database_says_so(tmp_path: Path) -> None:
    env = environment(tmp_path, "http://127.0.0.1:9/unused")
    result = flowhook(env, "deliver")
    assert (result.returncode, result.stdout) == (
        0,
        "Nothing to deliver: there is no flowhook database yet.\n",
    )
    assert not (tmp_path / "home" / "flowhook.db").exists()


@pytest.mark.slow
def test_runs_reap_sends_the_crashed_alert_it_queues(tmp_path: Path) -> None:
    with SlackWebhookServer() as server:
        env = environment(tmp_path, server.url, FLOWHOOK_CRASH_AFTER_SECONDS="0.5")
        killed = run_job(tmp_path, KILLED_WHILE_RUNNING, env)
        assert killed.returncode == -signal.SIGKILL
        reaped = flowhook(env, "runs", "reap")
        assert reaped.returncode == 0, reaped.stderr
        assert "Crashed flow run 'cut-short'" in reaped.stdout
        assert "Delivered 1 notification; none pending." in reaped.stdout
        [request] = server.requests
        assert "cut-short is Crashed" in request.json()["text"]


@pytest.mark.slow
def test_a_message_for_a_disabled_plugin_waits_for_it_instead_of_going_dead(
    tmp_path: Path,
) -> None:
    with SlackWebhookServer() as server:
        env = environment(tmp_path, server.url, FLOWHOOK_DELIVERY_DRAIN_SECONDS="1")
        disabled = {
            **env,
            "FLOWHOOK_DISABLE_PLUGINS": "slack",
            "FLOWHOOK_DELIVERY_BACKOFF_SECONDS": "0.01",
        }
        job = run_job(tmp_path, FAILING_JOB, disabled)
        assert job.returncode == 0, job.stderr
        for _ in range(12):  # more attempts than any transient error is allowed
            flowhook(disabled, "deliver", "--within", "0.2")
        [message] = outbox(env)
        assert message["status"] == "pending" and message["attempts"] >= 8
        assert "unknown block type 'slack-webhook'" in message["last_error"]
        assert "FLOWHOOK_DISABLE_PLUGINS" in message["last_error"]
        assert server.requests == []
        back = flowhook(env, "deliver", "--within", "60")  # the plugin is enabled again
        assert back.returncode == 0, back.stdout + back.stderr
        assert successes(server) == 1


def _not_durable_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "notifications are not durable" in line]


@pytest.mark.slow
def test_with_the_store_off_rules_still_notify_with_retries_and_one_warning(
    tmp_path: Path,
) -> None:
    with SlackWebhookServer(500, "ok") as server:
        env = environment(tmp_path, server.url, FLOWHOOK_STORE="off")
        job = run_job(
            tmp_path,
            FAILING_JOB.replace(
                "etl(return_state=True)", "etl(return_state=True)\netl(return_state=True)"
            ),
            env,
        )
        assert job.returncode == 0, job.stderr
        # Both runs' alerts went out: the first one twice, as its first post met the 500.
        run_ids = [
            request.json()["text"].rsplit("Run id: ", 1)[1][:36] for request in server.requests
        ]
        assert len(run_ids) == 3 and sorted(Counter(run_ids).values()) == [1, 2]
    [warning] = _not_durable_warnings(job.stderr)
    assert "the store is off (FLOWHOOK_STORE=off)" in warning
    assert "any still pending when it exits are lost" in warning
    assert not (tmp_path / "home" / "flowhook.db").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("corrupt", "file is not a database"),
        ("home-under-a-file", "flowhook"),
        ("bad-setting", "FLOWHOOK_HEARTBEAT_SECONDS"),
    ],
)
def test_a_store_that_cannot_be_used_still_notifies_and_names_the_problem(
    tmp_path: Path, damage: str, named: str
) -> None:
    with SlackWebhookServer() as server:
        env = environment(tmp_path, server.url)
        home = tmp_path / "home"
        if damage == "corrupt":
            home.mkdir()
            (home / "flowhook.db").write_bytes(b"this is not a database, " * 200)
        elif damage == "home-under-a-file":
            (tmp_path / "a-file").write_text("")
            env["FLOWHOOK_HOME"] = str(tmp_path / "a-file" / "home")
        else:
            env["FLOWHOOK_HEARTBEAT_SECONDS"] = "soon"
        job = run_job(tmp_path, FAILING_JOB, env)
        assert job.returncode == 0, job.stderr
        assert successes(server) == 1
    [warning] = _not_durable_warnings(job.stderr)
    assert named in warning, warning
    assert "Traceback" not in job.stderr


@pytest.mark.slow
def test_a_script_run_from_a_subdirectory_finds_the_projects_config(tmp_path: Path) -> None:
    with SlackWebhookServer() as server:
        env = environment(tmp_path, server.url)
        del env["FLOWHOOK_CONFIG"]  # environment() wrote tmp_path/flowhook.toml: found by search
        jobs = tmp_path / "jobs" / "nightly"
        jobs.mkdir(parents=True)
        script = jobs / "job.py"
        script.write_text(textwrap.dedent(FAILING_JOB))
        job = subprocess.run(
            [sys.executable, str(script)], env=env, cwd=jobs, capture_output=True, text=True
        )
        assert job.returncode == 0, job.stderr
        assert successes(server) == 1


def _enqueue(env: dict[str, str], count: int) -> None:
    """``count`` messages to slack-webhook/ops, pending in the store of ``env``."""
    from flowhook.store import OutboxEntry, StoreSettings, open_store

    settings = StoreSettings(
        home=Path(env["FLOWHOOK_HOME"]), url=env.get("FLOWHOOK_STORE_URL"), auto_migrate=True
    )
    store = open_store(settings)
    try:
        now = time.time()
        store.enqueue_outbox(
            OutboxEntry(
                f"event-{i}:rule:slack-webhook/ops",
                "slack-webhook",
                "ops",
                "rule",
                "flow",
                f"run-{i}",
                f"event-{i}",
                f"message {i}",
                f"body {i}",
                now,
            )
            for i in range(count)
        )
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_watches_and_a_slow_service_send_each_message_once(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """Two watches on one store (on two hosts, with PostgreSQL) send each message once."""
    shared = (
        {"FLOWHOOK_STORE_URL": request.getfixturevalue("postgres_url")}
        if backend == "postgres"
        else {}
    )
    slow = WebhookResponse(200, "ok", delay=0.4)
    with SlackWebhookServer(default=slow) as server:
        env = environment(tmp_path, server.url, FLOWHOOK_DELIVERY_CLAIM_SECONDS="1.5", **shared)
        _enqueue(env, 8)
        watches = [
            subprocess.Popen(
                [FLOWHOOK, "watch", "--interval", "0.1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if [m["status"] for m in outbox(env)] == ["sent"] * 8:
                    break
                time.sleep(0.2)
            time.sleep(1.0)  # a late duplicate would arrive now
        finally:
            for watch in watches:
                watch.send_signal(signal.SIGINT)
            for watch in watches:
                watch.communicate(timeout=30)
        bodies = [request.json()["text"] for request in server.requests]
    assert sorted(Counter(bodies).values()) == [1] * 8, Counter(bodies)


@pytest.mark.slow
def test_the_claims_of_a_killed_watch_are_released_at_once(tmp_path: Path) -> None:
    with SlackWebhookServer(WebhookResponse(200, "ok", delay=30)) as server:
        env = environment(tmp_path, server.url)
        _enqueue(env, 1)
        watch = subprocess.Popen(
            [FLOWHOOK, "watch", "--interval", "0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while not server.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.requests, "the watch never sent"
        finally:
            watch.kill()  # mid-send, holding the message's claim for two minutes
            watch.wait()
        started = time.monotonic()
        result = flowhook(env, "deliver")
        assert (result.returncode, result.stdout) == (
            0,
            "Delivered 1 notification; none pending.\n",
        )
        assert time.monotonic() - started < 20
        assert len(server.requests) == 2  # at least once: the killed send reached the server


@pytest.mark.slow
def test_watch_reaps_and_stops_within_a_second_while_a_send_hangs(tmp_path: Path) -> None:
    with SlackWebhookServer(WebhookResponse(200, "ok", delay=30)) as server:
        env = environment(tmp_path, server.url, FLOWHOOK_CRASH_AFTER_SECONDS="0.5")
        _enqueue(env, 1)
        watch = subprocess.Popen(
            [FLOWHOOK, "watch", "--interval", "0.1"], env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            deadline = time.monotonic() + 20
            while not server.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.requests, "the watch never sent"
            # The send hangs; a run whose process dies now is reaped all the same.
            killed = run_job(tmp_path, KILLED_WHILE_RUNNING, env)
            assert killed.returncode == -signal.SIGKILL
            deadline = time.monotonic() + 8  # sooner than the hanging send's 10 s timeout
            while time.monotonic() < deadline:
                runs = json.loads(flowhook(env, "runs", "ls", "--json").stdout)
                if runs and runs[0]["state_type"] == "CRASHED":
                    break
                time.sleep(0.1)
            assert runs[0]["state_type"] == "CRASHED", runs
            stopped = time.monotonic()
            watch.send_signal(signal.SIGINT)
            out, _ = watch.communicate(timeout=10)
            assert time.monotonic() - stopped < 5  # the hanging send is not waited for
        finally:
            if watch.poll() is None:
                watch.kill()
        assert watch.returncode == 0
        assert "Crashed flow run 'cut-short'" in out and out.endswith("Stopped.\n")
