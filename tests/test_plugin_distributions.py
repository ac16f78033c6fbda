"""Each plugin is its own distribution: its test suite passes in a fresh virtual
environment holding only the contract, the plugin, its dependencies and its test extra (which
brings the engine)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from environments import ROOT, clean_environ, environment_with_flowhook


@pytest.mark.slow
@pytest.mark.parametrize(
    "plugin",
    [
        "flowhook-slack",
        "flowhook-email",
        "flowhook-logging",
        "flowhook-dask",
        "flowhook-otel",
        "flowhook-apprise",
    ],
)
def test_plugin_test_suite_passes_in_its_own_environment(tmp_path: Path, plugin: str) -> None:
    source = ROOT / "plugins" / plugin
    python = environment_with_flowhook(tmp_path / "venv", f"{source}[test]") / "python"
    # The plugin's runtime requirements name the contract, never the engine.
    requires = json.loads(
        subprocess.run(
            [
                str(python),
                "-c",
                f"import importlib.metadata as m, json; print(json.dumps(m.requires({plugin!r})))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    runtime = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("flowhook-hookspec") for r in runtime)
    assert not any(re.match(r"flowhook\b(?!-)", r) for r in runtime), runtime
    env = clean_environ(FLOWHOOK_HOME=str(tmp_path / "home"))
    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout
