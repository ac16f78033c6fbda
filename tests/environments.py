"""Fresh virtual environments with flowhook installed, for the tests that pip-install for real."""

from __future__ import annotations

import os
import subprocess
import textwrap
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def environment_with_flowhook(directory: Path, *requirements: str) -> Path:
    """A new virtual environment in ``directory`` holding the contract, the engine, the test
    servers (``flowhook-testing``, which ``flowhook[testing]`` requires: given from the checkout,
    as the contract is) and ``requirements`` (pip arguments); returns its ``bin`` directory."""
    venv.create(directory, with_pip=True)
    bin_dir = directory / "bin"
    subprocess.run(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(ROOT / "hookspec"),
            str(ROOT / "testing"),
            str(ROOT),
            *requirements,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return bin_dir


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without PYTHONPATH (the new environment must stand alone)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(extra)
    return env


def fake_distribution(
    root: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """A real installed distribution (a dist-info directory in ``root``, which goes on sys.path
    or PYTHONPATH), as pip would leave it: ``entry_points`` in the ``flowhook`` group, and each
    of ``modules`` (name: source) a module beside it."""
    dist_info = root / f"{name.replace('-', '_')}-1.2.3.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    lines = "\n".join(f"{key} = {value}" for key, value in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[flowhook]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
