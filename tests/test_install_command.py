"""``flowhook install`` / ``flowhook uninstall`` put a plugin where flowhook runs, for real.

A fresh virtual environment sees this environment's packages (flowhook, pip, setuptools) through
a ``.pth`` file, so that nothing is downloaded: the plugin is a local directory built with
``--no-index --no-build-isolation``, and it must land in the fresh environment, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from environments import clean_environ

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "flowhook-stamp"
version = "0.2.0"
dependencies = ["flowhook-hookspec"]

[project.entry-points.flowhook]
stamp = "flowhook_stamp"

[tool.setuptools]
py-modules = ["flowhook_stamp"]
"""

MODULE = """
from flowhook_hookspec import hookimpl

@hookimpl
def on_flow_run_completion(flow_run):
    print("stamped", flow_run.name)
"""


def fresh_environment(directory: Path) -> Path:
    """A new virtual environment that also sees this one's packages; returns its python."""
    venv.create(directory, with_pip=False)
    python = directory / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    # addsitedir, not a plain path line: the editable installs here are .pth files themselves.
    (Path(purelib) / "outer.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


def flowhook(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "flowhook.cli", *args],
        capture_output=True,
        text=True,
        env=clean_environ(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1"),
        timeout=300,
        check=False,
    )


def stamp_listed(python: Path) -> list[dict[str, object]]:
    out = flowhook(python, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    return [info for info in json.loads(out.stdout) if info["name"] == "stamp"]


@pytest.mark.slow
def test_install_then_uninstall_a_plugin_in_flowhooks_own_environment(tmp_path: Path) -> None:
    plugin = tmp_path / "flowhook-stamp"
    plugin.mkdir()
    (plugin / "pyproject.toml").write_text(PYPROJECT)
    (plugin / "flowhook_stamp.py").write_text(MODULE)
    python = fresh_environment(tmp_path / "venv")
    assert stamp_listed(python) == []

    installed = flowhook(python, "install", "--no-index", "--no-build-isolation", str(plugin))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert installed.stdout.endswith(
        f"Installed into {tmp_path / 'venv'}. `flowhook plugins` lists the plugins.\n"
    )
    [info] = stamp_listed(python)
    assert (info["status"], info["version"], info["distribution"]) == (
        "active",
        "0.2.0",
        "flowhook-stamp",
    )
    assert list((tmp_path / "venv").rglob("flowhook_stamp.py"))  # there, and not here:
    assert subprocess.run([sys.executable, "-c", "import flowhook_stamp"], check=False).returncode

    removed = flowhook(python, "uninstall", "flowhook-stamp")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert removed.stdout.endswith(f"Uninstalled from {tmp_path / 'venv'}.\n")
    assert stamp_listed(python) == []


def test_uninstall_refuses_flowhook_itself_and_a_failed_pip_is_one_line() -> None:
    from click.testing import CliRunner

    from flowhook.cli import build_cli

    refused = CliRunner().invoke(build_cli(), ["uninstall", "flowhook"])
    assert refused.exit_code == 2 and "flowhook is flowhook itself, not a plugin" in refused.output
    failed = CliRunner().invoke(
        build_cli(), ["install", "--no-index", "/nonexistent/flowhook-nothing"]
    )
    assert failed.exit_code == 1
    assert failed.output.splitlines()[-1].startswith(
        "Error: pip install failed (exit status 1); its output is above."
    )
