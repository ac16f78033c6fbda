"""`flowhook config` shows which file is read and what it says; `flowhook config check` lists
every problem, one line each; a flow process logs the same lines once and keeps its good rules."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from flowhook.cli import build_cli
from flowhook_testing import SlackWebhookServer

BROKEN = """
[[notifications]]
on = ["Faild", "Crashed"]
blocks = ["slack-webhook/opz", "pager/x"]
subject = "{{ oops"

[[notifications]]
on = ["Failed"]
flows = ["etl*"]
blocks = ["slack-webhook/ops"]

[blocks."slack-webhook/ops"]
url = { env = "SLACK_WEBHOOK_URL" }

[blocks."pager/x"]
number = "555"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notifier_plugins) -> Path:
    monkeypatch.delenv("FLOWHOOK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args))


def test_config_shows_the_file_its_rules_and_blocks_without_values(project, monkeypatch) -> None:
    (project / "flowhook.toml").write_text(
        textwrap.dedent(BROKEN).replace('number = "555"', 'number = "555-secret"')
    )
    result = invoke("config")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"Config file: {project / 'flowhook.toml'}",
        "Rules: 2",
        "  notifications[0]: flow runs entering Faild, Crashed -> slack-webhook/opz, pager/x",
        "  notifications[1]: flow runs named etl* entering Failed -> slack-webhook/ops",
        "Blocks declared in the file: 2",
        "  pager/x: number set",
        "  slack-webhook/ops: url from $SLACK_WEBHOOK_URL",
        f"Store: {Path(os.environ['FLOWHOOK_HOME']) / 'flowhook.db'} (SQLite)",
    ]
    assert "555" not in result.output


def test_config_without_a_file_says_where_it_looked(project) -> None:
    result = invoke("config")
    assert result.exit_code == 0
    assert result.output.startswith("Config file: none found")


def test_config_check_lists_every_problem_one_line_each(project, monkeypatch) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    (project / "flowhook.toml").write_text(textwrap.dedent(BROKEN))
    result = CliRunner().invoke(build_cli(), ["config", "check"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 5, lines
    assert "unknown state 'Faild' in 'on'; did you mean 'Failed'?" in lines[0]
    assert "unknown block 'slack-webhook/opz'; did you mean 'slack-webhook/ops'?" in lines[1]
    assert "subject template has an error on line 1" in lines[2]
    assert "environment variable SLACK_WEBHOOK_URL, which is not set" in lines[3]
    assert "no installed and enabled plugin provides block type 'pager'" in lines[4]
    assert all(line.startswith(str(project / "flowhook.toml")) for line in lines)


def test_config_check_suggests_the_key_meant(project) -> None:
    (project / "flowhook.toml").write_text(
        '[[notifications]]\nonn = ["Failed"]\non = ["Failed"]\nblocks = ["log/x"]\n'
    )
    result = invoke("config", "check")
    assert result.exit_code == 1
    assert "unknown key 'onn'; did you mean 'on'?" in result.output
    assert "Traceback" not in result.output


def test_config_check_passes_a_good_config_with_one_line(project, monkeypatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/XXXX")
    good = BROKEN.split("[[notifications]]", 2)[2]
    (project / "flowhook.toml").write_text(
        "[[notifications]]" + good.replace('[blocks."pager/x"]\nnumber = "555"\n', "")
    )
    result = invoke("config", "check")
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"OK: {project / 'flowhook.toml'}: 1 rule(s) and 1 declared block(s), no problems.\n"
    )


@pytest.mark.slow
def test_a_flow_process_logs_the_problems_once_and_keeps_its_good_rules(tmp_path: Path) -> None:
    (tmp_path / "flowhook.toml").write_text(textwrap.dedent(BROKEN))
    script = tmp_path / "job.py"
    script.write_text(
        "from flowhook import flow\n"
        "etl = flow(name='etl-nightly', flow_run_name='doomed')(lambda: 1 / 0)\n"
        "etl(return_state=True)\netl(return_state=True)\n"
    )
    with SlackWebhookServer() as server:
        env = {
            **os.environ,
            "FLOWHOOK_HOME": str(tmp_path / "home"),
            "SLACK_WEBHOOK_URL": server.url,
        }
        env.pop("FLOWHOOK_CONFIG", None)
        job = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert job.returncode == 0, job.stderr
        assert len(server.requests) == 2  # the good rule, once per failed run
    assert job.stderr.count("unknown state 'Faild'") == 1
    assert job.stderr.count("unknown block 'slack-webhook/opz'") == 1
    assert "4 problem(s) in the notification config: 1 of 2 rules are on" in job.stderr
