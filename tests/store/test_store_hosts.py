"""Many hosts on one store, with real processes: a claimant that dies on one host has its claims
taken over by a process on another, and liveness never trusts a host's clock.

A second host is simulated on this machine: each subprocess gets a ``sitecustomize`` module
(written here, on its ``PYTHONPATH``) that makes ``socket.gethostname()`` answer
``TEST_HOST_NAME`` and shifts ``time.time()`` by ``TEST_CLOCK_SKEW`` seconds. flowhook reads
its host name and its wall clock only through those two, so a process so started is, for
flowhook, on another machine whose clock is off: it can tell another host's process dead only
by its heartbeat, never by its pid. The hook lives in these tests, not in flowhook.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from store_helpers import (
    FLOWHOOK,
    environment,
    fake_process,
    make_distribution,
    wait_for,
    write_module,
)

from flowhook.store import OutboxEntry, RunQuery, RunRecord, Store, open_store
from flowhook_testing import SlackWebhookServer, WebhookResponse

pytestmark = pytest.mark.slow

#: A process is found dead on another host after this much silence (its heartbeat: 0.5 s).
CRASH_AFTER = 4.0
#: What a takeover may take beyond CRASH_AFTER on a busy test machine: a reaper's look, the
#: start of a subprocess.
MARGIN = 12.0

SITECUSTOMIZE = """
    import os, socket, time

    _host = os.environ.get("TEST_HOST_NAME")
    if _host:
        socket.gethostname = lambda: _host
    _skew = float(os.environ.get("TEST_CLOCK_SKEW") or 0)
    if _skew:
        _real_time = time.time
        time.time = lambda: _real_time() + _skew
"""

CONFIG = """
[blocks."slack-webhook/ops"]
url = "{url}"
"""

RULE = """
[[notifications]]
on = ["Failed"]
blocks = ["slack-webhook/ops"]
"""

#: A flow that fails at once: its rule's message is sent by the process's delivery thread.
FAILING = """
    from flowhook import flow

    @flow(name="etl", flow_run_name="doomed")
    def etl() -> None:
        raise ValueError("disk full")

    etl(return_state=True)
"""

#: Logs each crashed flow run's hook (start, end); the hook lasts CRASH_HOOK_SECONDS.
CRASH_PLUGIN = """
    import os, time
    from flowhook import hookimpl

    def _log(line):
        with open(os.environ["CRASH_LOG"], "a") as f:
            f.write(line + "\\n")

    @hookimpl
    def on_flow_run_crashed(flow, flow_run, state):
        _log(f"start {flow_run.id}")
        time.sleep(float(os.environ.get("CRASH_HOOK_SECONDS", "0")))
        _log(f"end {flow_run.id}")
"""

#: A flow that runs until it is killed.
ENDLESS = """
    import sys, time
    from pathlib import Path
    from flowhook import flow

    @flow(name="endless")
    def endless(marker: str) -> None:
        Path(marker).write_text("running")
        time.sleep(600)

    endless(sys.argv[1])
"""


def _hosts_env(modules: Path, **extra: str) -> dict[str, str]:
    write_module(modules, "sitecustomize", SITECUSTOMIZE)
    return environment(  # the test's FLOWHOOK_HOME, or FLOWHOOK_STORE_URL for PostgreSQL
        modules,
        FLOWHOOK_HEARTBEAT_SECONDS="0.5",
        FLOWHOOK_CRASH_AFTER_SECONDS=str(CRASH_AFTER),
        **extra,
    )


def _on(env: dict[str, str], host: str, skew: float = 0.0) -> dict[str, str]:
    """``env`` for a process on ``host`` whose clock is ``skew`` seconds off."""
    return {**env, "TEST_HOST_NAME": host, "TEST_CLOCK_SKEW": str(skew)}


def _kill(process: subprocess.Popen[bytes]) -> float:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return time.monotonic()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _kill(process)


def _outbox_status() -> str:
    store = open_store()
    try:
        return store.list_outbox()[0].status
    finally:
        store.close()


def _flow_run() -> RunRecord:
    store = open_store()
    try:
        [run] = store.list_flow_runs(RunQuery())
        return run
    finally:
        store.close()


def _reap(env: dict[str, str]) -> None:
    done = subprocess.run(
        [FLOWHOOK, "runs", "reap"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_a_watch_killed_mid_send_has_its_claim_taken_over_by_a_watch_on_another_host(
    modules: Path, tmp_path: Path
) -> None:
    # The first request hangs (the first watch is killed while it waits), the next is answered.
    with SlackWebhookServer(WebhookResponse(delay=600), "ok") as server:
        config = tmp_path / "flowhook.toml"
        config.write_text(CONFIG.format(url=server.url))
        env = _hosts_env(modules, FLOWHOOK_CONFIG=str(config), NO_PROXY="127.0.0.1")
        store = open_store()
        try:
            store.enqueue_outbox(
                [OutboxEntry("k1", "slack-webhook", "ops", "r", "flow", "r1", "e", "s", "hi", 0)]
            )
        finally:
            store.close()
        watch = [FLOWHOOK, "watch", "--interval", "0.2"]
        first = subprocess.Popen(watch, env=_on(env, "alpha"), stdout=subprocess.DEVNULL)
        try:
            wait_for(lambda: len(server.requests) == 1, what="the first watch's send")
        finally:
            killed = _kill(first)
        second = subprocess.Popen(watch, env=_on(env, "beta"), stdout=subprocess.DEVNULL)
        try:
            wait_for(lambda: len(server.requests) == 2, CRASH_AFTER + MARGIN, "the takeover")
            took = time.monotonic() - killed
            # Stopped once it recorded the send: SIGTERM does not wait for a send in flight.
            wait_for(lambda: _outbox_status() == "sent", what="the second watch to record it")
        finally:
            _stop(second)
    print(f"outbox claim taken over {took:.1f} s after its watch was killed")
    store = open_store()
    try:
        [message] = store.list_outbox()
        processes = store._read("SELECT host, exited FROM processes ORDER BY id")
    finally:
        store.close()
    # Sent once by the second watch, long before the claim's lease (120 s) ran out.
    assert (message.status, message.attempts) == ("sent", 1)
    assert [request.json()["text"] for request in server.requests] == ["*s*\nhi"] * 2
    # Both watches registered; the one stopped by SIGTERM recorded its exit, the killed one not.
    assert [(host, exited is not None) for host, exited in processes] == [
        ("alpha", False),
        ("beta", True),
    ]


def test_a_flow_process_sending_after_its_run_ended_is_not_taken_for_dead_elsewhere(
    modules: Path, tmp_path: Path
) -> None:
    """Its run is over, but its delivery holds a claim: it beats while it sends, so a watch on
    another host leaves the claim alone (sending it twice would break exactly once)."""
    # The send takes longer than the crash limit (and less than the notifier's 10 s timeout).
    with SlackWebhookServer(WebhookResponse(delay=CRASH_AFTER + 5), "ok") as server:
        config = tmp_path / "flowhook.toml"
        config.write_text(RULE + CONFIG.format(url=server.url))
        env = _hosts_env(modules, FLOWHOOK_CONFIG=str(config), FLOWHOOK_DELIVERY_DRAIN_SECONDS="30")
        script = write_module(modules, "failing", FAILING)
        job = subprocess.Popen([sys.executable, str(script)], env=_on(env, "alpha"))
        try:
            wait_for(lambda: len(server.requests) == 1, what="the flow process's send")
            watch = [FLOWHOOK, "watch", "--interval", "0.2"]
            other = subprocess.Popen(watch, env=_on(env, "beta"), stdout=subprocess.DEVNULL)
            try:
                assert job.wait(timeout=60) == 0
            finally:
                _stop(other)
        finally:
            if job.poll() is None:
                _kill(job)
    assert len(server.requests) == 1
    store = open_store()
    try:
        [message] = store.list_outbox()
    finally:
        store.close()
    assert (message.status, message.attempts) == ("sent", 1)


def test_a_reaper_killed_while_firing_a_crash_hook_is_taken_over_on_another_host(
    modules: Path, tmp_path: Path
) -> None:
    write_module(modules, "crash_watcher", CRASH_PLUGIN)
    make_distribution(modules, "crash-watcher", {"crashwatch": "crash_watcher"})
    crash_log = tmp_path / "crashes.log"
    env = _hosts_env(modules, CRASH_LOG=str(crash_log))
    script = write_module(modules, "endless", ENDLESS)
    marker = tmp_path / "running"
    victim = subprocess.Popen([sys.executable, str(script), str(marker)], env=_on(env, "alpha"))
    try:
        wait_for(marker.exists, what="the flow to run")
    finally:
        _kill(victim)
    # A reaper on the victim's host crashes the run and hangs in its hook: it is killed there.
    stuck = subprocess.Popen(
        [FLOWHOOK, "runs", "reap"], env={**_on(env, "alpha"), "CRASH_HOOK_SECONDS": "600"}
    )
    try:
        wait_for(lambda: crash_log.exists() and "start" in crash_log.read_text(), what="a hook")
    finally:
        killed = _kill(stuck)
    while "end" not in crash_log.read_text():
        assert time.monotonic() - killed < CRASH_AFTER + MARGIN, "the hook was never taken over"
        _reap(_on(env, "beta"))
    took = time.monotonic() - killed
    print(f"crash hook taken over {took:.1f} s after its reaper was killed")
    run = _flow_run()
    assert run.state_name == "Crashed"
    assert crash_log.read_text().splitlines() == [
        f"start {run.id}",
        f"start {run.id}",
        f"end {run.id}",
    ]


@pytest.mark.parametrize("skew", [600.0, -600.0], ids=["ahead-10-min", "behind-10-min"])
def test_skewed_clocks_never_reap_a_live_run_and_reap_a_dead_one_in_time(
    modules: Path, tmp_path: Path, store_backend: str, skew: float
) -> None:
    """The flow process's clock is ``skew`` off, the reaper's ``-skew`` (20 minutes apart).
    On PostgreSQL they are on two hosts, and the server's clock decides; a SQLite file belongs
    to one host, where a process's pid decides whatever the clocks say."""
    env = _hosts_env(modules)
    reaper_host = "beta" if store_backend == "postgres" else "alpha"
    script = write_module(modules, "endless", ENDLESS)
    marker = tmp_path / "running"
    flow = subprocess.Popen([sys.executable, str(script), str(marker)], env=_on(env, "alpha", skew))
    reaper = _on(env, reaper_host, -skew)
    try:
        wait_for(marker.exists, what="the flow to run")
        deadline = time.monotonic() + CRASH_AFTER + 1.0
        while time.monotonic() < deadline:  # past the crash limit: only a dead process is reaped
            _reap(reaper)
            run = _flow_run()
            assert run.state_name == "Running", "a live run was reaped"
    finally:
        killed = _kill(flow)
    while run.state_name != "Crashed":
        assert time.monotonic() - killed < CRASH_AFTER + MARGIN, "the dead run was never reaped"
        _reap(reaper)
        run = _flow_run()
    print(f"dead run reaped {time.monotonic() - killed:.1f} s after its process was killed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _processes() -> list[tuple[Any, ...]]:
    store = open_store()
    try:
        return store._read("SELECT command, last_heartbeat, exited FROM processes ORDER BY id")
    finally:
        store.close()


def test_the_ui_is_a_registered_process_with_a_heartbeat_until_it_stops(modules: Path) -> None:
    open_store().close()  # the database exists: the UI opens it with its first page
    port = _free_port()
    ui = subprocess.Popen(
        [FLOWHOOK, "ui", "--port", str(port)],
        env=_on(_hosts_env(modules), "alpha"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page = wait_for(lambda: _get(f"http://127.0.0.1:{port}/"), what="the UI's first page")
        assert page == 200
        [(command, first_beat, exited)] = wait_for(_processes, what="the UI's process row")
        assert " ui " in f"{command} " and exited is None
        wait_for(lambda: _processes()[0][1] > first_beat, 5.0, "a second heartbeat")
    finally:
        _stop(ui)
    [(_, _, exited)] = _processes()
    assert exited is not None  # stopped by SIGTERM: it recorded its exit


def _get(url: str) -> int | None:
    try:
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1
        with direct.open(url, timeout=5) as answer:
            return int(answer.status)
    except OSError:
        return None


def test_heartbeats_and_leases_are_the_servers_time_on_postgresql(
    store: Store, store_backend: str
) -> None:
    """A host whose clock is an hour ahead writes them: PostgreSQL keeps its own time,
    SQLite (one host's file) the host's."""
    ahead = time.time() + 3600
    process_id = fake_process(store, pid=os.getpid())
    store.heartbeat(process_id, ahead)
    store.enqueue_outbox([OutboxEntry("k", "log", "ops", "r", "flow", "r1", "e", "s", "b", 0)])
    [claimed] = store.claim_outbox("w", ahead, 10, 120.0)
    assert store.renew_outbox_claim(claimed.id, "w", 300.0)
    process = store.process(process_id)
    assert process is not None
    [(claimed_until,)] = store._read("SELECT claimed_until FROM notification_outbox")
    if store_backend == "postgres":
        server = store.clock()
        assert abs(server - time.time()) < 5
        assert server - 5 < process.last_heartbeat <= server
        assert server + 295 < claimed_until <= server + 300
    else:
        assert store.clock() == pytest.approx(time.time(), abs=5)
        assert process.last_heartbeat == ahead
        assert claimed_until == pytest.approx(time.time() + 300, abs=5)
