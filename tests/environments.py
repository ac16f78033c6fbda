"""Fresh virtual environments with flowhook installed, for the tests that pip-install for real."""

from __future__ import annotations

import os
import subprocess
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
