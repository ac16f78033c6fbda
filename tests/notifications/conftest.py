from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

import flowhook_email
import flowhook_logging
import flowhook_slack
from flowhook.testing import PluginManager


@pytest.fixture
def notifier_plugins(flowhook_plugins: PluginManager) -> PluginManager:
    """The three notifier plugins registered, as if installed."""
    for plugin in (flowhook_slack, flowhook_email, flowhook_logging):
        flowhook_plugins.register(plugin)
    return flowhook_plugins


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a flowhook.toml and point FLOWHOOK_CONFIG at it; fast retries for the tests."""
    monkeypatch.setenv("FLOWHOOK_DELIVERY_BACKOFF_SECONDS", "0.05")

    def write(text: str) -> Path:
        path = tmp_path / "flowhook.toml"
        path.write_text(textwrap.dedent(text))
        monkeypatch.setenv("FLOWHOOK_CONFIG", str(path))
        return path

    return write


SLACK_RULE = """
[[notifications]]
on = ["Failed", "Crashed"]
flows = ["etl*"]
blocks = ["slack-webhook/ops"]
subject = "{{ flow_run.name }} is {{ state.name }}"

[blocks."slack-webhook/ops"]
url = { env = "SLACK_WEBHOOK_URL" }
"""

#: A job whose failure, and its alert, are recorded; then it dies before it sends anything.
KILLED_AFTER_FAILURE = """
import os, signal
from flowhook import flow

@flow(name="etl-nightly", flow_run_name="doomed")
def etl():
    raise ValueError("disk full")

@etl.on_failure
def die(flow, flow_run, state):
    # The failure and its alert are in the store; the process dies, maybe while its delivery
    # thread sends the alert (tests that need it unsent stop the server meanwhile).
    os.kill(os.getpid(), signal.SIGKILL)

etl()
"""


def environment(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    config = tmp_path / "flowhook.toml"
    config.write_text(textwrap.dedent(SLACK_RULE))
    return {
        **os.environ,
        "FLOWHOOK_HOME": str(tmp_path / "home"),
        "FLOWHOOK_CONFIG": str(config),
        "SLACK_WEBHOOK_URL": url,
        "FLOWHOOK_DELIVERY_BACKOFF_SECONDS": "0.5",
        **extra,
    }
