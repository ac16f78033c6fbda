from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_plugin_new_writes_a_distribution(tmp_path) -> None:
    result = run("plugin", "new", "pager-duty", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    target = tmp_path / "flowhook-pager-duty"
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "README.md",
        "flowhook_pager_duty.py",
        "pyproject.toml",
        "tests/test_pager_duty.py",
    ]
    assert 'pager-duty = "flowhook_pager_duty"' in (target / "pyproject.toml").read_text()
    compile((target / "flowhook_pager_duty.py").read_text(), "module", "exec")


@pytest.mark.parametrize("name", ["Bad_Name", "9lives", "x-", "a--b"])
def test_plugin_new_rejects_bad_names_with_exit_2(tmp_path, name) -> None:
    result = run("plugin", "new", name, "--dir", str(tmp_path))
    assert result.exit_code == 2 and "not a valid plugin name" in result.output
    assert list(tmp_path.iterdir()) == []


def test_plugin_new_refuses_to_overwrite(tmp_path) -> None:
    (tmp_path / "flowhook-x" / "keep").mkdir(parents=True)
    result = run("plugin", "new", "x", "--dir", str(tmp_path))
    assert result.exit_code == 1 and "already exists" in result.output


#: What ``flowhook runs ls`` must not import: the run detail and the other runs commands, and
#: the store's writing side (the batch writer and its rows' sorter, cattrs for a failed state's
#: exception, the process registry with socket and subprocess, the outbox in memory, the copy)
#: and the records of a run's detail.
NOT_FOR_RUNS_LS = (
    "flowhook.views.detail",
    "flowhook.views.trace",
    "flowhook.cli.run_show",
    "flowhook.cli.run_logs",
    "rich",
    "cattrs",
    "flowhook_hookspec.serde",
    "flowhook.store._writer",
    "flowhook.store._batch",
    "flowhook.store._processes",
    "flowhook.store._memory",
    "flowhook.store._copy",
    "flowhook.store._details",
    "flowhook.views.tasks",
    "flowhook._engine.calls",
    "pluggy",
    "queue",
    "random",
    "socket",
    "subprocess",
)


def _runs_command_imports(home: Path, *args: str) -> tuple[str, list[str]]:
    """What ``flowhook runs ARGS`` prints, and which of :data:`NOT_FOR_RUNS_LS` it imported, in
    a fresh interpreter."""
    code = (
        "import sys\n"
        "from flowhook.cli import main\n"
        "sys.argv = ['flowhook', 'runs', *sys.argv[1:]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in sys.modules if m in {NOT_FOR_RUNS_LS!r}))\n"
    )
    env = {**os.environ, "FLOWHOOK_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    *printed, imported = done.stdout.strip().splitlines()
    return "\n".join(printed), ast.literal_eval(imported)


def test_runs_ls_imports_only_the_run_lists_part_of_the_read_model(tmp_path) -> None:
    """``flowhook runs ls`` (bounded by the interpreter's start and its imports) loads neither
    the run detail, nor the other runs commands, nor the store's writing side, also when it
    lists a failed run; ``runs show`` then loads the detail."""
    assert _runs_command_imports(tmp_path, "ls") == ("No flow runs recorded yet.", [])
    code = (
        "from flowhook import flow\n"
        "@flow(flow_run_name='doomed')\n"
        "def boom() -> None:\n"
        "    raise ValueError('no')\n"
        "boom(return_state=True)\n"
    )
    env = {**os.environ, "FLOWHOOK_HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    listed, imported = _runs_command_imports(tmp_path, "ls")
    assert imported == []
    assert "doomed" in listed and "Failed" in listed
    shown = set(_runs_command_imports(tmp_path, "show", "0123")[1])
    assert shown == {
        "flowhook.cli.run_show",
        "flowhook.store._details",
        "flowhook.views.detail",
        "flowhook.views.tasks",
        "flowhook.views.trace",
    }


@pytest.mark.parametrize("logging_first", [False, True])
def test_what_a_command_logs_is_one_line_with_its_level_and_logger(
    tmp_path, logging_first: bool
) -> None:
    """A command logs WARNING and above on stderr as ``LEVEL logger: message``, whether logging
    was imported before the command started or not."""
    code = (
        ("import logging\n" if logging_first else "") + "from flowhook.cli import main\n"
        "try:\n"
        "    main(['runs', 'ls'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "import logging.handlers\n"
        "logging.getLogger('flowhook.test').warning('careful')\n"
        "logging.getLogger('flowhook.test').info('not shown')\n"
    )
    env = {**os.environ, "FLOWHOOK_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout == "No flow runs recorded yet.\n"
    assert done.stderr == "WARNING flowhook.test: careful\n"


def test_flowhooks_own_commands_import_neither_plugins_nor_templates(tmp_path) -> None:
    """``flowhook runs cancel`` must start fast (a run is to be Cancelling within a second): it
    loads no plugin's entry point and imports neither Jinja nor the notifications; a plugin's
    command, or ``--help``, still finds the plugins."""
    code = (
        "import sys\n"
        "from flowhook.cli import main\n"
        "sys.argv = ['flowhook', 'runs', 'cancel', '0123']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jinja2', 'dask', "
        "'flowhook_slack', 'flowhook_email', 'flowhook_dask') "
        "or m.startswith('flowhook.notifications')))\n"
    )
    env = {**os.environ, "FLOWHOOK_HOME": str(tmp_path)}
    env.pop("FLOWHOOK_DISABLE_PLUGINS", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
    assert "no run has an id starting with '0123'" in done.stderr
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "flowhook"), "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "runs" in listed.stdout and "store" in listed.stdout
