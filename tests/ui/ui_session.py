"""The UI tests' session: one ``flowhook ui`` server on a store of real runs recorded by
subprocesses (a module of its own, not the conftest, so that test modules can import it by a
name no other test directory uses)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from browser import free_port, start_ui, stop
from playwright.sync_api import Page, expect

from flowhook.store import OutboxEntry, RunQuery, RunRecord, Store, load_settings, open_store

#: A webhook URL whose path is the secret; no server listens on port 9.
SECRET_URL = "http://127.0.0.1:9/services/T0/B0/s3cr3t-t0ken"

FLOWS = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path

    from flowhook import flow, get_run_logger, task


    @task
    def step(i: int) -> int:
        time.sleep(0.01)
        return i


    @flow(flow_run_name="etl-{n}")
    def etl(n: int) -> int:
        total = sum(step(i) for i in range(n))
        get_run_logger().warning("summed %d rows", n)
        return total


    @flow(flow_run_name="broken-run")
    def broken() -> None:
        step(0)
        raise RuntimeError("the source is gone")


    @flow(flow_run_name="gated-run")
    def gated(gate: str) -> None:
        while not Path(gate).exists():
            time.sleep(0.02)
        step(1)


    @flow(flow_run_name="forever-run")
    def forever() -> None:
        for i in range(3000):
            step(i)
            time.sleep(0.05)


    if __name__ == "__main__":
        command = sys.argv[1]
        if command == "sample":
            etl(5)
            etl(3)
            broken(return_state=True)
        elif command == "gated":
            gated(sys.argv[2])
        else:
            forever(return_state=True)
    """
)


class UI:
    """The session's server, its store and a way to start flows into it."""

    def __init__(self, home: Path, port: int, env: dict[str, str]) -> None:
        self.home = home
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.env = env
        self.store: Store = open_store(load_settings({**os.environ, **env}))

    def start_flow(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(self.home / "flows.py"), *args],
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def runs(self, flow_name: str, state: str | None = None) -> list[RunRecord]:
        return self.store.list_flow_runs(RunQuery(flow_name=flow_name, state=state))

    def follow_a_gated_run(self, page: Page, gate: Path) -> None:
        """Open the page of a running flow, let the flow end (by making ``gate``), and see the
        page show it without reloading."""
        process = self.start_flow("gated", str(gate))
        try:
            run = self.wait_for(lambda: self.runs("gated", "running"), "the gated flow to run")[0]
            page.goto(f"{self.url}/runs/{run.id}")
            expect(page.locator("#run-state")).to_have_text("Running")
            page.evaluate("window.notReloaded = true")
            gate.touch()
            expect(page.locator("#run-state")).to_have_text("Completed", timeout=5_000)
            expect(page.locator("svg.timeline rect.bar")).to_have_count(1)
            assert page.evaluate("window.notReloaded") is True
        finally:
            process.wait(timeout=30)

    def wait_for(self, condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"waited {timeout:g} s for {what}")


def secret_message(run_id: str, url: str = SECRET_URL) -> OutboxEntry:
    """A message about the failed run ``run_id`` to the block of the secret ``url``, whose
    subject quotes the secret (as a message written by an older flowhook, before errors were masked,
    might)."""
    return OutboxEntry(
        "k1",
        "slack-webhook",
        "ops",
        "on-failed",
        "flow",
        run_id,
        "Failed",
        f"broken-run failed, see {url}",
        "body",
        time.time(),
    )


def _record_secret_message(ui: UI) -> None:
    """:func:`secret_message` for the sample's broken run, dead with an error quoting the secret."""
    [broken] = ui.runs("broken")
    ui.store.enqueue_outbox([secret_message(broken.id)])
    [message] = ui.store.list_outbox()
    ui.store.mark_outbox_dead(message.id, 5, f"ConnectError: cannot reach {SECRET_URL}")


@contextmanager
def serving(home: Path, **extra_env: str) -> Iterator[UI]:
    """``flowhook ui`` on the store of ``home`` (or of ``FLOWHOOK_STORE_URL``), holding the
    sample runs and a message to the block of the secret URL."""
    (home / "flows.py").write_text(FLOWS)
    (home / "flowhook.toml").write_text(
        '[blocks."slack-webhook/ops"]\nurl = { env = "UI_TEST_WEBHOOK_URL" }\n'
    )
    env = {
        "FLOWHOOK_HOME": str(home),
        "FLOWHOOK_CONFIG": str(home / "flowhook.toml"),
        "FLOWHOOK_HEARTBEAT_SECONDS": "0.2",
        "UI_TEST_WEBHOOK_URL": SECRET_URL,
        **extra_env,
    }
    subprocess.run(
        [sys.executable, str(home / "flows.py"), "sample"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = start_ui(env, port)
    session = UI(home, port, env)
    _record_secret_message(session)
    try:
        yield session
    finally:
        stop(server)
        session.store.close()
