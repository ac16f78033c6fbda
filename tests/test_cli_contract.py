"""What a user of the command line can count on: no traceback, ever; ``--json`` that every JSON
parser reads; no secret in an error; and commands that only read never create a database.

Fast tests run the command line in-process with click's CliRunner; the ``slow`` ones run the
``flowhook`` console script in real subprocesses, with real bytes in ``argv`` and a database file
damaged in place.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner, Result
from sample_runs import record_sample_runs

import flowhook
import flowhook._runtime.attach
import flowhook_email
import flowhook_logging
import flowhook_slack
from flowhook import flow, hookimpl
from flowhook.cli import build_cli
from flowhook.store import NewRun, ProcessInfo, RunQuery, SQLiteStore, Transition, open_store
from flowhook.testing import PluginManager
from flowhook_hookspec import Notifier, Secret
from flowhook_hookspec.notify import as_secret
from flowhook_logging import LogNotifier

FLOWHOOK = str(Path(sys.executable).parent / "flowhook")
HOOK_URL = "https://hooks.slack.com/services/T0/B0/XXXX"


@pytest.fixture(autouse=True)
def detached() -> Iterator[None]:
    yield
    flowhook._runtime.attach.detach()


@pytest.fixture(autouse=True)
def notifier_plugins(flowhook_plugins: PluginManager) -> PluginManager:
    for plugin in (flowhook_slack, flowhook_email, flowhook_logging):
        flowhook_plugins.register(plugin)
    return flowhook_plugins


@pytest.fixture(autouse=True)
def no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty config file, so that no flowhook.toml around the checkout is read."""
    path = tmp_path / "flowhook.toml"
    path.write_text("")
    monkeypatch.setenv("FLOWHOOK_CONFIG", str(path))
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(build_cli(), list(args))


def one_line_error(result: Result, status: int) -> str:
    """The one line on stderr of a command that failed with ``status``."""
    assert result.exit_code == status, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def snapshot(database: Path) -> list[str]:
    """Everything the database holds, as SQL: equal snapshots, nothing was written."""
    if not database.exists():
        return []
    conn = sqlite3.connect(database)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def history(home: Path, config: Path) -> dict[str, str]:
    """A real database: runs of two flows (one failed, with task runs), their events, a saved
    block, and outbox messages from a notification rule."""
    config.write_text(
        textwrap.dedent(
            """
            [[notifications]]
            on = ["Failed", "Completed"]
            blocks = ["log/ops"]
            """
        )
    )
    LogNotifier(logger_name="flowhook.test.ops").save("ops")

    record_sample_runs()
    store = open_store()
    try:
        runs = {run.name: run.id for run in store.list_flow_runs(RunQuery())}
        assert store.list_outbox(), "the rule enqueued no message"
        # Detaching stops the delivery thread: what it had not sent yet, `deliver` sends.
        delivered = CliRunner().invoke(build_cli(), ["deliver", "--within", "20"])
        assert delivered.exit_code == 0, delivered.output
        assert not store.pending_outbox_count(), store.list_outbox()
    finally:
        store.close()
    assert (home / "flowhook.db").is_file()
    return runs


# -- no traceback: one line naming the problem, and nothing written ---------------------------

BAD_ARGUMENTS = [
    (
        ["runs", "ls", "--limit", "9223372036854775808"],
        "Error: --limit: 9223372036854775808 is not in the range 1<=x<=9223372036854775807.",
    ),
    (
        ["runs", "prune", "--older-than", "1000000w"],
        "Error: --older-than: '1000000w' reaches back before 1970-01-01, further than anything "
        "recorded: give a shorter age, e.g. 30d",
    ),
    (
        ["outbox", "retry", "99999999999999999999"],
        "Error: MESSAGE_ID: 99999999999999999999 is not in the range 1<=x<=9223372036854775807.",
    ),
    (
        ["watch", "--interval", "1e308"],
        "Error: --interval: 1e+308 is not in the range 0.05<=x<=86400.",
    ),
    (["watch", "--interval", "nan"], "Error: --interval: 'nan' is not a number"),
    # what Python hands over for the byte 0xff in argv, which is not UTF-8
    (
        ["runs", "ls", "--flow", "\udcff"],
        "Error: the argument '\\xff' is not valid UTF-8 text: give names and values in UTF-8",
    ),
    (
        ["block", "create", "log/\udcff"],
        "Error: the argument 'log/\\xff' is not valid UTF-8 text: give names and values in UTF-8",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGUMENTS, ids=lambda a: " ".join(a)[:40])
def test_a_bad_argument_is_one_line_and_writes_nothing(
    args, message, flowhook_home: Path, no_config_file: Path
) -> None:
    assert one_line_error(run(*args), 2) == message
    assert list(flowhook_home.iterdir()) == [], "a refused command created the database"
    history(flowhook_home, no_config_file)
    before = snapshot(flowhook_home / "flowhook.db")
    assert one_line_error(run(*args), 2) == message
    after = snapshot(flowhook_home / "flowhook.db")
    assert after == before, "a refused command wrote"


def test_an_unexpected_error_is_one_line_too(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(store: Any, query: Any) -> list[Any]:
        raise KeyError("gremlin")

    flow(lambda: 1)()
    flowhook._runtime.attach.detach()
    monkeypatch.setattr(SQLiteStore, "list_flow_runs", broken)
    line = one_line_error(run("runs", "ls"), 1)
    assert line.startswith("Error: unexpected KeyError: 'gremlin' (a bug in flowhook or in a ")


def damage_values(database: Path) -> None:
    """Values edited in place, as flipped bytes or a hand edit leave them: JSON that is not
    JSON, text that is not UTF-8, text where a number belongs."""
    store = open_store()
    assert isinstance(store, SQLiteStore)
    try:  # an unfinished run of a dead process, for the reaper to read
        process = store.register_process(
            ProcessInfo(
                pid=2**22 + 1,
                host="elsewhere",
                start_token=None,
                started=time.time() - 100,
                command="gone",
                flowhook_version="0",
            )
        )
        run_id = uuid.uuid4()
        store.write(
            [
                NewRun("flow", run_id, "ghost", "ghost", None, time.time(), process),
                Transition("flow", run_id, run_id, flowhook.states.Pending(), 0, None, None),
            ]
        )
    finally:
        store.close()
    conn = sqlite3.connect(database)
    conn.executescript(
        """
        DROP TRIGGER state_events_append_only;
        UPDATE flow_runs SET tags = '["a"', parameters = '{"n": 1';
        UPDATE task_runs SET states = '[[1,';
        UPDATE state_events SET earlier = '[oops';
        UPDATE notification_outbox SET block_name = CAST(x'ff' AS TEXT);
        UPDATE blocks SET name = CAST(x'fffe' AS TEXT), data = '{';
        UPDATE processes SET started = 'yesterday', last_heartbeat = 'noon';
        """
    )
    conn.close()


def damage_pages(database: Path) -> None:
    """Every page but the first (the schema) overwritten with other bytes, in place."""
    size = database.stat().st_size
    with database.open("r+b") as file:
        file.seek(4096)
        file.write(bytes((i * 37 + 11) % 256 for i in range(size - 4096)))


READ_COMMANDS = [
    ["runs", "ls"],
    ["runs", "ls", "--json"],
    ["runs", "show", "{id}"],
    ["outbox", "ls"],
    ["outbox", "ls", "--json"],
    ["block", "ls"],
    ["block", "show", "log/ops"],
    ["runs", "prune", "--older-than", "0s"],
    ["runs", "reap"],
]


@pytest.mark.parametrize("damage", [damage_values, damage_pages])
def test_every_command_on_a_damaged_database_is_one_line(
    damage, flowhook_home: Path, no_config_file: Path
) -> None:
    runs = history(flowhook_home, no_config_file)
    no_config_file.write_text("")
    database = flowhook_home / "flowhook.db"
    damage(database)
    before = database.read_bytes()
    for args in READ_COMMANDS:
        args = [arg.format(id=runs["report"]) for arg in args]
        line = one_line_error(run(*args), 1)
        assert str(database) in line, (args, line)
        assert "is damaged (" in line and "restore it from a backup" in line, (args, line)
    assert database.read_bytes() == before


def test_a_damaged_value_is_named_with_its_column(
    flowhook_home: Path, no_config_file: Path
) -> None:
    history(flowhook_home, no_config_file)
    damage_values(flowhook_home / "flowhook.db")
    assert one_line_error(run("runs", "ls"), 1) == (
        f"Error: the flowhook database {flowhook_home / 'flowhook.db'} is damaged (flow_runs.tags "
        """holds text '["a"', which is not JSON); move it away (flowhook then starts a new one) """
        "or restore it from a backup"
    )
    assert "the column 'block_name' holds text that is not UTF-8" in one_line_error(
        run("outbox", "ls"), 1
    )
    assert "processes.started holds text 'yesterday' where flowhook writes a number" in (
        one_line_error(run("runs", "reap"), 1)
    )


# -- --json is strict JSON ----------------------------------------------------------------------


def strict_loads(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_strict_json_nan_and_infinity_as_strings() -> None:
    @flow(flow_run_name="odd")
    def odd(x: float, y: float, z: float, xs: list[float]) -> float:
        return 1.0

    odd(math.nan, math.inf, -math.inf, [1.5, math.nan])
    flowhook._runtime.attach.detach()
    listed = run("runs", "ls", "--json")
    assert listed.exit_code == 0, listed.output
    [item] = strict_loads(listed.output)
    assert item["parameters"] == {
        "x": "NaN",
        "y": "Infinity",
        "z": "-Infinity",
        "xs": [1.5, "NaN"],
    }
    shown = strict_loads(run("runs", "show", item["id"], "--json").output)
    assert shown["run"]["parameters"]["y"] == "Infinity"
    for args in (["outbox", "ls", "--json"], ["plugins", "--json"]):
        result = run(*args)
        assert result.exit_code == 0, result.output
        strict_loads(result.output)


# -- no secret in an error ----------------------------------------------------------------------


def test_a_value_without_field_is_never_echoed(flowhook_home: Path) -> None:
    line = one_line_error(run("block", "create", "slack-webhook/x", "--set", HOOK_URL), 2)
    assert line == (
        "Error: --set takes FIELD=VALUE, and one value has no FIELD= (not shown: it may be a "
        "secret); slack-webhook fields: url (secret, required), username (str), icon_emoji "
        "(str), icon_url (str), timeout (float)"
    )
    assert (
        "hooks.slack.com" not in run("block", "create", "slack-webhook/x", "--set", HOOK_URL).output
    )


@pytest.mark.parametrize(
    "args",
    [
        ["block", "create", "slack-webhook/x", HOOK_URL],  # --set forgotten altogether
        ["block", "create", "slack-webhook/x", "--set", HOOK_URL.replace("/XXXX", "=XXXX")],
        ["block", "create", "slack-webhook/x", "--set", f"url={HOOK_URL}", "--set", HOOK_URL],
        ["block", "create", "slack-webhook/x", "--set", f"url={HOOK_URL}", "--set", "timeout=x"],
    ],
)
def test_no_usage_error_shows_the_secret(args, flowhook_home: Path) -> None:
    result = run(*args)
    assert result.exit_code in (1, 2)
    assert "Error: " in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert "XXXX" not in result.output and "hooks.slack.com/services" not in result.output
    assert list(flowhook_home.iterdir()) == []


def test_secret_field_values_are_masked_in_every_error(notifier_plugins: PluginManager) -> None:
    @attrs.define
    class Pager(Notifier):
        block_type = "pager"
        token: Secret = attrs.field(converter=as_secret)
        level: str = "high"

        def __attrs_post_init__(self) -> None:
            if self.level not in ("high", "low"):
                # a careless notifier that quotes what it was given
                raise ValueError(f"level {self.level!r} is not high or low ({self.token._value})")

        def notify(self, body: str, subject: str | None = None) -> None:
            pass

    class Plugin:
        @hookimpl
        def register_notifiers(self, register):  # type: ignore[no-untyped-def]
            register(Pager)

    notifier_plugins.register(Plugin(), name="pager")
    line = one_line_error(
        run("block", "create", "pager/x", "--set", "token=s3cret-t0ken", "--set", "level=mid"), 1
    )
    assert line == "Error: invalid pager block: level 'mid' is not high or low (**********)"


# -- commands that only read never create a database --------------------------------------------

EMPTY_LISTINGS = [
    (["runs", "ls"], "No flow runs recorded yet.\n"),
    (["runs", "ls", "--json"], "[]\n"),
    (["outbox", "ls"], "The outbox is empty.\n"),
    (["outbox", "ls", "--json"], "[]\n"),
    (
        ["block", "ls"],
        "No blocks. Create one with: flowhook block create TYPE/NAME --set FIELD=VALUE\n",
    ),
]
NOT_FOUND = [
    (["runs", "show", "3f2a1b9c"], "Error: no run has an id starting with '3f2a1b9c'"),
    (
        ["block", "show", "log/ops"],
        "Error: no block named 'log/ops'; `flowhook block ls` lists them",
    ),
    (["block", "rm", "log/ops"], "Error: no saved block named 'log/ops'"),
]


def test_reading_without_a_database_creates_none(flowhook_home: Path) -> None:
    for args, output in EMPTY_LISTINGS:
        result = run(*args)
        assert (result.exit_code, result.output) == (0, output), args
    types = run("block", "types")
    assert types.exit_code == 0 and "slack-webhook" in types.output
    for args, message in NOT_FOUND:
        assert one_line_error(run(*args), 1) == message
    assert list(flowhook_home.iterdir()) == [], "a command that only reads created files"


# -- the same through the console script, in real processes ------------------------------------


def flowhook_cli(*args: str | bytes, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWHOOK_HOME": str(home), "FLOWHOOK_CONFIG": str(cwd / "empty.toml")}
    env.pop("FLOWHOOK_STRICT_HOOKS", None)
    return subprocess.run(
        [FLOWHOOK, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, (result.args, result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), (result.args, result.stderr)
    return lines[0]


@pytest.mark.slow
def test_the_console_script_keeps_the_contract(
    tmp_path: Path, flowhook_home: Path, no_config_file: Path
) -> None:
    (tmp_path / "empty.toml").write_text("")
    fresh = tmp_path / "fresh-home"
    for args, output in EMPTY_LISTINGS:
        result = flowhook_cli(*args, home=fresh, cwd=tmp_path)
        assert (result.returncode, result.stdout, result.stderr) == (0, output, ""), args
    assert flowhook_cli("block", "types", home=fresh, cwd=tmp_path).returncode == 0
    for args, message in NOT_FOUND:
        assert assert_one_line(flowhook_cli(*args, home=fresh, cwd=tmp_path), 1) == message
    for args, message in BAD_ARGUMENTS:
        raw = [os.fsencode(arg) for arg in args]  # 0xff reaches argv as the byte it is
        assert assert_one_line(flowhook_cli(*raw, home=fresh, cwd=tmp_path), 2) == message
    assert not fresh.exists(), "a command that only reads, or failed, created FLOWHOOK_HOME"
    secret = flowhook_cli(
        "block", "create", "slack-webhook/x", "--set", HOOK_URL, home=fresh, cwd=tmp_path
    )
    assert "hooks.slack.com" not in assert_one_line(secret, 2)

    runs = history(flowhook_home, no_config_file)
    damaged = tmp_path / "damaged-home"
    damaged.mkdir()
    (damaged / "flowhook.db").write_bytes((flowhook_home / "flowhook.db").read_bytes())
    damage_pages(damaged / "flowhook.db")
    for args in READ_COMMANDS:
        args = [arg.format(id=runs["report"]) for arg in args]
        line = assert_one_line(flowhook_cli(*args, home=damaged, cwd=tmp_path), 1)
        assert "is damaged (" in line, (args, line)
    damage_values(flowhook_home / "flowhook.db")
    for args in READ_COMMANDS:
        args = [arg.format(id=runs["report"]) for arg in args]
        line = assert_one_line(flowhook_cli(*args, home=flowhook_home, cwd=tmp_path), 1)
        assert "is damaged (" in line, (args, line)
