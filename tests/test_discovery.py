"""Discovery for real: a plugin distribution pip-installed into a fresh virtual environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

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
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(ROOT / "hookspec"),
            str(ROOT),
            str(plugin),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    log = tmp_path / "audit.log"
    env = {**os.environ, "AUDIT_LOG": str(log)}
    env.pop("PYTHONPATH", None)
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
        [str(env_dir / "bin" / "flowhook"), "plugins", "--json"],
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
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
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
    subprocess.run(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(ROOT / "hookspec"),
            str(ROOT),
            f"{plugin}[test]",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
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
