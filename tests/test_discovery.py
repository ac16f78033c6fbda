"""Discovery for real: a plugin distribution pip-installed into a fresh virtual environment."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from environments import clean_environ, environment_with_flowhook

ROOT = Path(__file__).resolve().parents[1]

PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "flowhook-audit"
version = "0.3.0"
dependencies = ["flowhook-hookspec"]

[project.entry-points.flowhook]
audit = "flowhook_audit"
"""

PLUGIN_MODULE = """
import json, os
from flowhook_hookspec import hookimpl

@hookimpl
def on_flow_run_state_change(flow, flow_run, old_state, new_state):
    with open(os.environ["AUDIT_LOG"], "a") as log:
        log.write(json.dumps([flow.name, old_state and old_state.name, new_state.name]) + "\\n")
"""

USER_SCRIPT = """
from flowhook import flow, task

@task
def double(x: int) -> int:
    return 2 * x

@flow
def etl(n: int) -> int:
    return double(n)

print(etl(21))
"""


@pytest.mark.slow
def test_pip_installed_plugin_sees_every_transition(tmp_path: Path) -> None:
    plugin = tmp_path / "flowhook-audit"
    plugin.mkdir()
    (plugin / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (plugin / "flowhook_audit.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    bin_dir = environment_with_flowhook(tmp_path / "venv", str(plugin))
    python = bin_dir / "python"
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    log = tmp_path / "audit.log"
    env = clean_environ(AUDIT_LOG=str(log))
    out = subprocess.run(
        [str(python), str(script)], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "42"
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        ["etl", None, "Pending"],
        ["etl", "Pending", "Running"],
        ["etl", "Running", "Completed"],
    ]
    listed = subprocess.run(
        [str(bin_dir / "flowhook"), "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(listed.stdout) == [
        {
            "name": "audit",
            "version": "0.3.0",
            "distribution": "flowhook-audit",
            "hooks": ["on_flow_run_state_change"],
            "status": "active",
            "error": None,
        }
    ]
    assert sys.executable != str(python)


@pytest.mark.slow
def test_scaffolded_plugin_installs_passes_its_tests_and_is_listed(tmp_path: Path) -> None:
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowhook.cli",
            "plugin",
            "new",
            "audit-log",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    plugin = tmp_path / "flowhook-audit-log"
    assert f"Created {plugin}" in created.stdout
    bin_dir = environment_with_flowhook(tmp_path / "venv", f"{plugin}[test]")
    env = clean_environ()
    tests = subprocess.run(
        [str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=plugin,
        capture_output=True,
        text=True,
        env=env,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout
    listed = subprocess.run(
        [str(bin_dir / "flowhook"), "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    [info] = json.loads(listed.stdout)
    assert (info["name"], info["distribution"], info["status"], info["hooks"]) == (
        "audit-log",
        "flowhook-audit-log",
        "active",
        ["on_flow_run_failure"],
    )
