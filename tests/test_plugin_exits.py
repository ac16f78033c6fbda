"""A plugin cannot take the process down, for real: plugins installed through entry points
(a dist-info directory on PYTHONPATH), flow scripts and ``flowhook`` run as processes.

``SystemExit`` from a plugin, wherever it is raised (a hook, the module at import,
``register_notifiers``, ``register_commands``), is an error like any other: logged, the run goes
on, ``flowhook plugins`` says what failed. ``KeyboardInterrupt`` is the user's Ctrl-C and still
propagates. A plugin never replaces a built-in command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from environments import fake_distribution

FLOWHOOK = str(Path(sys.executable).parent / "flowhook")

FLOW_SCRIPT = """
from flowhook import flow

@flow(name="etl")
def etl() -> int:
    return 42

print(etl())
print("after the flow")
"""

#: A flow run whose process is SIGKILLed while it runs: the reaper will find it.
KILLED_SCRIPT = """
import os, signal
from flowhook import flow

@flow(name="doomed")
def doomed() -> None:
    os.kill(os.getpid(), signal.SIGKILL)

doomed()
"""

#: A plugin whose on_flow_run_crashed writes a line, then exits.
EXITING_ON_CRASH = """
import os
from flowhook import hookimpl

@hookimpl
def on_flow_run_crashed(flow):
    with open(os.environ["CRASH_LOG"], "a") as log:
        log.write(flow.name + "\\n")
    raise SystemExit(5)
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A directory on the processes' PYTHONPATH, to install plugins in."""
    path = tmp_path / "site"
    path.mkdir()
    return path


def environment(site: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(site), **extra}
    for name in ("FLOWHOOK_STRICT_HOOKS", "FLOWHOOK_DISABLE_PLUGINS", "FLOWHOOK_LOAD_PLUGINS"):
        env.pop(name, None)
    return env


def install(site: Path, name: str, source: str) -> None:
    fake_distribution(
        site, f"flowhook-{name}", {name: f"{name}_plugin"}, {f"{name}_plugin": source}
    )


def run_script(site: Path, source: str, **extra: str) -> subprocess.CompletedProcess[str]:
    script = site.parent / "job.py"
    script.write_text(source)
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=environment(site, **extra),
        timeout=60,
        check=False,
    )


def flowhook(site: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLOWHOOK, *args],
        capture_output=True,
        text=True,
        env=environment(site, **extra),
        timeout=60,
        check=False,
    )


def listed(site: Path, name: str) -> dict[str, object]:
    out = flowhook(site, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    [info] = [info for info in json.loads(out.stdout) if info["name"] == name]
    return info  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_plugin_exiting_at_import_is_listed_failed_and_never_stops_a_flow(site: Path) -> None:
    install(site, "quitter", "raise SystemExit(3)\n")
    job = run_script(site, FLOW_SCRIPT)
    assert (job.returncode, job.stdout.split()) == (0, ["42", "after", "the", "flow"]), job.stderr
    assert "plugin 'quitter' failed to load" in job.stderr and "SystemExit: 3" in job.stderr
    info = listed(site, "quitter")
    assert info["status"] == "failed"
    assert "could not import 'quitter_plugin': SystemExit: 3" in str(info["error"])
    table = flowhook(site, "plugins")
    assert table.returncode == 0
    assert "quitter is failed: could not import 'quitter_plugin': SystemExit: 3" in table.stdout


@pytest.mark.slow
def test_a_plugin_hook_raising_system_exit_is_logged_and_the_run_goes_on(site: Path) -> None:
    install(
        site,
        "quitter",
        """
        from flowhook import hookimpl

        @hookimpl
        def on_flow_run_running():
            raise SystemExit("plugin wants out")

        @hookimpl
        def on_flow_run_completion():
            raise SystemExit(4)
        """,
    )
    job = run_script(site, FLOW_SCRIPT)
    assert (job.returncode, job.stdout.split()) == (0, ["42", "after", "the", "flow"]), job.stderr
    assert "plugin 'quitter' hook 'on_flow_run_running' raised SystemExit: plugin wants out" in (
        job.stderr
    )
    assert "plugin 'quitter' hook 'on_flow_run_completion' raised SystemExit: 4" in job.stderr
    history = flowhook(site, "runs", "ls", "--json")
    assert [run["state_name"] for run in json.loads(history.stdout)] == ["Completed"]


@pytest.mark.slow
def test_keyboard_interrupt_from_a_plugin_hook_still_stops_the_process(site: Path) -> None:
    install(
        site,
        "ctrlc",
        """
        from flowhook import hookimpl

        @hookimpl
        def on_flow_run_completion():
            raise KeyboardInterrupt
        """,
    )
    job = run_script(site, FLOW_SCRIPT)
    assert job.returncode != 0
    assert "after the flow" not in job.stdout and "KeyboardInterrupt" in job.stderr


@pytest.mark.slow
def test_register_notifiers_or_commands_raising_system_exit_never_ends_the_command(
    site: Path,
) -> None:
    install(
        site,
        "quitter",
        """
        from flowhook import hookimpl

        @hookimpl
        def register_notifiers(register):
            raise SystemExit(6)

        @hookimpl
        def register_commands(cli):
            raise SystemExit(7)
        """,
    )
    types = flowhook(site, "block", "types")
    assert types.returncode == 0, types.stderr
    assert "slack-webhook" in types.stdout  # the other plugins' notifiers are all there
    assert "plugin 'quitter' hook 'register_notifiers' raised SystemExit: 6" in types.stderr
    # flowhook's own commands never ask the plugins for theirs; a plugin's command, or --help,
    # does (and the command line still works).
    assert "register_commands" not in types.stderr
    helped = flowhook(site, "--help")
    assert helped.returncode == 0 and "runs" in helped.stdout
    assert "plugin 'quitter' hook 'register_commands' raised SystemExit: 7" in helped.stderr
    info = listed(site, "quitter")
    assert info["status"] == "active"


@pytest.mark.slow
def test_a_plugin_cannot_replace_a_built_in_command(site: Path) -> None:
    install(
        site,
        "hijack",
        """
        import click
        from flowhook import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.group("runs")
            def runs():
                "Not flowhook's."

            @runs.command("ls")
            def ls():
                click.echo("hijacked")

            @cli.command("hijack-report")
            def report():
                click.echo("the plugin's own command")
        """,
    )
    assert run_script(site, FLOW_SCRIPT).returncode == 0
    runs = flowhook(site, "runs", "ls")  # flowhook's own command: the plugins' are not loaded
    assert runs.returncode == 0, runs.stderr
    assert "hijacked" not in runs.stdout and "etl" in runs.stdout
    own = flowhook(site, "hijack-report")
    assert (own.returncode, own.stdout) == (0, "the plugin's own command\n")
    assert (
        "plugin 'hijack' tried to replace the command 'runs', which flowhook (or a plugin loaded "
        "before it) already has; that one is kept" in own.stderr
    )


@pytest.mark.slow
def test_system_exit_in_on_flow_run_crashed_never_aborts_an_unrelated_flow(
    site: Path, tmp_path: Path
) -> None:
    crash_log = tmp_path / "crashes.log"
    install(site, "crashquit", EXITING_ON_CRASH)
    killed = run_script(site, KILLED_SCRIPT, CRASH_LOG=str(crash_log))
    assert killed.returncode == -signal.SIGKILL
    # The next flow process reaps the dead one at start-up: the plugin's hook runs, and exits.
    job = run_script(site, FLOW_SCRIPT, CRASH_LOG=str(crash_log))
    assert (job.returncode, job.stdout.split()) == (0, ["42", "after", "the", "flow"]), job.stderr
    assert crash_log.read_text() == "doomed\n"
    assert "hook 'on_flow_run_crashed' raised SystemExit: 5" in job.stderr


@pytest.mark.slow
def test_system_exit_in_on_flow_run_crashed_never_stops_flowhook_watch(
    site: Path, tmp_path: Path
) -> None:
    crash_log = tmp_path / "crashes.log"
    install(site, "crashquit", EXITING_ON_CRASH)
    env = environment(site, CRASH_LOG=str(crash_log))
    assert run_script(site, FLOW_SCRIPT).returncode == 0  # the database exists
    watcher = subprocess.Popen(
        [FLOWHOOK, "watch", "--interval", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for name in ("first", "second"):  # the watch goes on looking after the first crash
            killed = run_script(
                site, KILLED_SCRIPT.replace('"doomed"', repr(name)), CRASH_LOG=str(crash_log)
            )
            assert killed.returncode == -signal.SIGKILL
            deadline = time.monotonic() + 30
            while name not in (crash_log.read_text() if crash_log.exists() else ""):
                assert watcher.poll() is None, watcher.communicate()
                assert time.monotonic() < deadline, "the watch never reaped the killed run"
                time.sleep(0.05)
        time.sleep(0.5)
        assert watcher.poll() is None
    finally:
        watcher.send_signal(signal.SIGINT)
        out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert crash_log.read_text() == "first\nsecond\n"
    assert out.count("Crashed flow run") == 2 and out.endswith("Stopped.\n")
    assert "raised SystemExit: 5" in err
