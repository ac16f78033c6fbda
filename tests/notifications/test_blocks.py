"""Blocks: save, load, list, delete; declared in config; and the block/notify CLI."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flowhook import Block, flow
from flowhook.cli import build_cli
from flowhook.notifications import BLOCK_NAME_PATTERN, BlockError, BlockExistsError
from flowhook_logging import LogNotifier
from flowhook_slack import SlackWebhook


def cli(*args: str, input: str | None = None):
    return CliRunner().invoke(build_cli(), list(args), input=input)


def test_save_load_list_delete(notifier_plugins, flowhook_slack_webhook_server) -> None:
    assert SlackWebhook(url=flowhook_slack_webhook_server.url).save("ops") == "slack-webhook/ops"
    loaded = Block.load("slack-webhook/ops")
    assert isinstance(loaded, SlackWebhook)
    assert loaded.url.get_secret_value() == flowhook_slack_webhook_server.url
    with pytest.raises(BlockError, match="exists"):
        SlackWebhook(url=flowhook_slack_webhook_server.url).save("ops")
    SlackWebhook(url=flowhook_slack_webhook_server.url, username="bot").save("ops", overwrite=True)
    assert Block.load("slack-webhook/ops").username == "bot"
    assert Block.list() == ["slack-webhook/ops"]
    Block.delete("slack-webhook/ops")
    with pytest.raises(BlockError, match="no block named 'slack-webhook/ops'"):
        Block.load("slack-webhook/ops")


def test_the_prefect_docs_example_works_as_written(
    notifier_plugins, flowhook_slack_webhook_server
) -> None:
    SlackWebhook(url=flowhook_slack_webhook_server.url).save("my-slack-webhook")

    @flow(flow_run_name="nightly")
    def job() -> None:
        raise RuntimeError("boom")

    @job.on_failure
    def notify_slack(flow, flow_run, state):
        Block.load("slack-webhook/my-slack-webhook").notify(
            f"Your job {flow_run.name} entered {state.name} with message:\n\n{state.message}"
        )

    job(return_state=True)
    [request] = flowhook_slack_webhook_server.requests
    assert "Your job nightly entered Failed" in request.json()["text"]


def test_config_blocks_take_values_from_the_environment(
    notifier_plugins, configure, monkeypatch, flowhook_slack_webhook_server
) -> None:
    configure(
        """
        [blocks."slack-webhook/ops"]
        url = { env = "OPS_HOOK" }
        """
    )
    with pytest.raises(Exception, match="OPS_HOOK, which is not set"):
        Block.load("slack-webhook/ops")
    monkeypatch.setenv("OPS_HOOK", flowhook_slack_webhook_server.url)
    Block.load("slack-webhook/ops").notify("from config")
    assert flowhook_slack_webhook_server.requests[0].json()["text"] == "from config"
    with pytest.raises(BlockError, match="declared in the config file"):
        Block.delete("slack-webhook/ops")


NAME_RULE = (
    "is not a block name: a block is named TYPE/NAME, where NAME has 1 to 64 letters, digits, "
    "'-', '_' or '.' and starts with a letter or digit, e.g. 'slack-webhook/ops'"
)


@pytest.mark.parametrize(
    "name",
    [
        "noslash",
        "/x",
        "x/",
        "a/b/c",
        "log/bad name!",
        "log/-x",
        "log/" + "x" * 65,
        "log/\u00e9t\u00e9",
    ],
)
def test_bad_block_names(notifier_plugins, name) -> None:
    with pytest.raises(BlockError) as caught:
        Block.load(name)
    assert str(caught.value) == f"{name!r} {NAME_RULE}"


def test_block_names_follow_one_pattern_everywhere(notifier_plugins) -> None:
    with pytest.raises(BlockError, match="is not a block name"):
        LogNotifier().save("bad name!")
    created = cli("block", "create", "slack-webhook/bad name!", "--set", "url=http://127.0.0.1:9/x")
    assert (created.exit_code, created.output) == (
        1,
        f"Error: 'slack-webhook/bad name!' {NAME_RULE}\n",
    )
    assert LogNotifier().save("ops.eu-1_b") == "log/ops.eu-1_b"
    assert re.fullmatch(BLOCK_NAME_PATTERN, "ops.eu-1_b")
    assert Block.list() == ["log/ops.eu-1_b"]


def test_block_messages_say_what_to_do_in_the_cli(notifier_plugins) -> None:
    assert cli("block", "create", "log/ops").exit_code == 0
    again = cli("block", "create", "log/ops")
    assert (again.exit_code, again.output) == (
        1,
        "Error: block 'log/ops' exists; pass --overwrite to replace it\n",
    )
    with pytest.raises(BlockExistsError, match=r"pass overwrite=True to replace it$"):
        LogNotifier().save("ops")
    mistyped = cli("notify", "log/osp", "hello")
    assert (mistyped.exit_code, mistyped.output) == (
        1,
        "Error: no block named 'log/osp'; `flowhook block ls` lists them (did you mean "
        "'log/ops'?)\n",
    )
    security = cli(
        "block",
        "create",
        "email/x",
        "--set",
        "host=127.0.0.1",
        "--set",
        "from_addr=a@example.com",
        "--set",
        "to=b@example.com",
        "--set",
        "security=tls",
    )
    assert (security.exit_code, security.output) == (
        1,
        "Error: invalid email block: field 'security' takes one of: starttls, ssl, none "
        "(got 'tls')\n",
    )


def test_flowhook_notify_shows_what_a_log_block_logged(flowhook_home) -> None:
    flowhook = str(Path(sys.executable).parent / "flowhook")
    env = {**os.environ, "FLOWHOOK_HOME": str(flowhook_home)}
    env.pop("FLOWHOOK_DISABLE_PLUGINS", None)
    env.pop("FLOWHOOK_LOAD_PLUGINS", None)
    for args in (["block", "create", "log/ops"], ["notify", "log/ops", "hello", "--subject", "hi"]):
        done = subprocess.run(
            [flowhook, *args], capture_output=True, text=True, env=env, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
    assert done.stdout == "Sent to log/ops.\n"
    assert done.stderr == "INFO flowhook.notifications: hi: hello\n"


def test_block_cli_create_list_show_remove(notifier_plugins, flowhook_slack_webhook_server) -> None:
    created = cli(
        "block",
        "create",
        "slack-webhook/ops",
        "--set",
        f"url={flowhook_slack_webhook_server.url}",
        "--set",
        "timeout=2",
    )
    assert created.exit_code == 0 and created.output == "Saved slack-webhook/ops.\n"
    assert cli("block", "ls").output == "slack-webhook/ops  (saved)\n"
    shown = cli("block", "show", "slack-webhook/ops").output
    assert (
        "**********" in shown and flowhook_slack_webhook_server.url not in shown and "2.0" in shown
    )
    sent = cli("notify", "slack-webhook/ops", "hello", "--subject", "test")
    assert sent.exit_code == 0 and sent.output == "Sent to slack-webhook/ops.\n"
    assert "hello" in flowhook_slack_webhook_server.requests[0].json()["text"]
    assert cli("block", "rm", "slack-webhook/ops").exit_code == 0
    assert cli("block", "rm", "slack-webhook/ops").exit_code == 1


def test_block_cli_list_fields_and_errors(notifier_plugins, tmp_path) -> None:
    types = cli("block", "types").output
    assert "slack-webhook" in types and "email" in types and "to               list" in types
    unknown = cli("block", "create", "pager/x")
    assert (
        unknown.exit_code == 1
        and "installed block types: email, log, slack-webhook" in unknown.output
    )
    bad_field = cli("block", "create", "log/x", "--set", "colour=red")
    assert bad_field.exit_code == 1 and "logger_name" in bad_field.output
    bad_set = cli("block", "create", "log/x", "--set", "level")
    assert bad_set.exit_code == 2 and "FIELD=VALUE" in bad_set.output
    missing_secret = cli("block", "create", "slack-webhook/x")
    assert missing_secret.exit_code == 1 and "--set url=" in missing_secret.output
    email = cli(
        "block",
        "create",
        "email/oncall",
        "--set",
        "host=127.0.0.1",
        "--set",
        "from_addr=a@example.com",
        "--set",
        "to=b@example.com,c@example.com",
    )
    assert email.exit_code == 0, email.output
    assert "b@example.com, c@example.com" in cli("block", "show", "email/oncall").output


def test_notify_failure_is_one_line_with_exit_1_and_no_url(
    notifier_plugins, flowhook_slack_webhook_server
) -> None:
    flowhook_slack_webhook_server.respond(404)
    SlackWebhook(url=flowhook_slack_webhook_server.url).save("ops")
    result = cli("notify", "slack-webhook/ops", "hi")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "permanent failure" in result.output
    assert "no_service" in result.output and flowhook_slack_webhook_server.url not in result.output


@pytest.mark.slow
def test_block_create_asks_for_a_missing_secret_with_hidden_input(tmp_path) -> None:
    """In a real terminal (a pty), the webhook URL is prompted for and never echoed."""
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    secret = "https://hooks.example.invalid/services/T0/B0/SECRET"
    leader, follower = pty.openpty()
    env = {**os.environ, "FLOWHOOK_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "flowhook"), "block", "create", "slack-webhook/ops"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    output = b""
    while b"url" not in output:
        output += os.read(leader, 1024)
    os.write(leader, secret.encode() + b"\n")
    process.wait(timeout=30)
    try:
        while chunk := os.read(leader, 1024):
            output += chunk
    except OSError:  # the terminal closed
        pass
    os.close(leader)
    assert process.returncode == 0, output
    assert b"Saved slack-webhook/ops." in output
    assert secret.encode() not in output  # hidden input: not echoed
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "flowhook"), "block", "show", "slack-webhook/ops"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "**********" in shown and secret not in shown


@pytest.mark.parametrize(
    "args",
    [
        ["block", "ls"],
        ["block", "show", "log/x"],
        ["notify", "log/x", "hi"],
        ["outbox", "ls"],
        ["outbox", "retry", "--all-dead"],
    ],
)
def test_a_corrupt_database_is_a_one_line_error(notifier_plugins, flowhook_home, args) -> None:
    (flowhook_home / "flowhook.db").write_text("not a database")
    result = cli(*args)
    assert result.exit_code == 1
    assert "not a database" in result.output and "Traceback" not in result.output
    assert result.output.count("\n") == 1


def test_saved_secrets_live_in_a_file_of_their_own_never_in_the_database(
    notifier_plugins, flowhook_home, flowhook_slack_webhook_server
) -> None:
    url = flowhook_slack_webhook_server.url
    assert cli("block", "create", "slack-webhook/ops", "--set", f"url={url}").exit_code == 0
    database = b"".join(path.read_bytes() for path in flowhook_home.glob("flowhook.db*"))
    assert url.encode() not in database and url.split("//")[1].encode() not in database
    secrets = flowhook_home / "secrets.json"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert json.loads(secrets.read_text())["blocks"] == {"slack-webhook/ops": {"url": url}}
    shown = cli("block", "show", "slack-webhook/ops")
    assert shown.exit_code == 0 and url not in shown.output and "**********" in shown.output
    assert cli("notify", "slack-webhook/ops", "hello").exit_code == 0
    assert flowhook_slack_webhook_server.requests[0].json()["text"] == "hello"
    assert LogNotifier().save("quiet") == "log/quiet"  # no secret field: no entry
    assert set(json.loads(secrets.read_text())["blocks"]) == {"slack-webhook/ops"}
    assert cli("block", "rm", "slack-webhook/ops").exit_code == 0
    assert json.loads(secrets.read_text())["blocks"] == {}


def test_a_secrets_file_others_can_read_is_refused_with_the_fix(
    notifier_plugins, flowhook_home
) -> None:
    SlackWebhook(url="http://127.0.0.1:9/hook").save("ops")
    secrets = flowhook_home / "secrets.json"
    secrets.chmod(0o644)
    shown = cli("block", "show", "slack-webhook/ops")
    assert (shown.exit_code, shown.output) == (
        1,
        f"Error: the secrets file {secrets} can be read by other users (mode 644); run: chmod "
        f"600 {secrets}\n",
    )


def test_a_block_saved_with_its_secret_in_the_database_still_loads(notifier_plugins) -> None:
    from flowhook.store import open_store

    store = open_store()
    try:
        store.save_block("slack-webhook", "old", {"url": "http://127.0.0.1:9/old"})
    finally:
        store.close()
    assert Block.load("slack-webhook/old").url.get_secret_value() == "http://127.0.0.1:9/old"
