from __future__ import annotations

import json
import shutil
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import flowhook
from flowhook import hookimpl
from flowhook.cli import build_cli, cli


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(build_cli(), list(args))


class Audit:
    __version__ = "2.0"

    @hookimpl
    def on_flow_run_failure(self, flow_run):
        pass

    @hookimpl
    def on_task_run_failure(self, task_run):
        pass


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0 and flowhook.__version__ in result.output


def test_console_script_is_installed() -> None:
    exe = shutil.which("flowhook") or str(
        __import__("pathlib").Path(sys.executable).parent / "flowhook"
    )
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"flowhook, version {flowhook.__version__}"


def test_plugins_table_and_json(plugin_manager) -> None:
    plugin_manager.register(Audit(), name="audit")
    table = run("plugins")
    assert table.exit_code == 0
    header, row = table.output.splitlines()[:2]
    assert header.split() == ["NAME", "VERSION", "STATUS", "HOOKS"]
    assert row.split()[:3] == ["audit", "2.0", "active"]
    assert "on_flow_run_failure, on_task_run_failure" in row
    listed = json.loads(run("plugins", "--json").output)
    assert listed == [
        {
            "name": "audit",
            "version": "2.0",
            "distribution": None,
            "hooks": ["on_flow_run_failure", "on_task_run_failure"],
            "status": "active",
            "error": None,
        }
    ]


def test_plugins_with_none_installed() -> None:
    assert "No plugins installed" in run("plugins").output
    assert json.loads(run("plugins", "--json").output) == []


@pytest.mark.parametrize("args", [["no-such-command"], ["plugins", "--bogus"]])
def test_unknown_commands_and_options_exit_2_with_usage(args) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert "Usage: " in result.output


def test_hook_register_commands_adds_subcommands(plugin_manager) -> None:
    class Commands:
        @hookimpl
        def register_commands(self, cli):
            @cli.command("hello")
            def hello() -> None:
                click.echo("hello from a plugin")

    plugin_manager.register(Commands(), name="commands")
    try:
        result = run("hello")
        assert result.exit_code == 0 and result.output == "hello from a plugin\n"
    finally:
        cli.commands.pop("hello", None)


def test_a_broken_register_commands_does_not_break_the_cli(plugin_manager, caplog) -> None:
    class Broken:
        @hookimpl
        def register_commands(self, cli):
            raise RuntimeError("bad plugin")

    plugin_manager.register(Broken(), name="broken")
    assert run("--version").exit_code == 0
