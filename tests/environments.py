"""Fresh virtual environments with flowhook installed, for the tests that pip-install for real."""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import textwrap
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Held while pip builds the checkout's distributions: setuptools builds them in the source tree
#: (its ``build/`` and ``*.egg-info``), so two test workers building at once can break each
#: other's build.
BUILD_LOCK = Path(tempfile.gettempdir()) / "flowhook-tests-pip-install.lock"
#: The checkout's distributions every new environment holds: the contract, the test servers
#: and the engine.
CHECKOUT = (str(ROOT / "hookspec"), str(ROOT / "testing"), str(ROOT))


def environment_with_flowhook(directory: Path, *requirements: str) -> Path:
    """A new virtual environment in ``directory`` holding the contract, the engine, the test
    servers (``flowhook-testing``, which ``flowhook[testing]`` requires: given from the checkout,
    as the contract is) and ``requirements`` (pip arguments); returns its ``bin`` directory."""
    venv.create(directory, with_pip=True)
    bin_dir = directory / "bin"
    pip = [str(bin_dir / "python"), "-m", "pip", "--disable-pip-version-check"]
    wheels = directory / "checkout-wheels"
    with BUILD_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _pip([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), *CHECKOUT])
    _pip([*pip, "install", "--quiet", *map(str, sorted(wheels.glob("*.whl"))), *requirements])
    return bin_dir


def _pip(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise AssertionError(f"pip {command[4]} failed ({done.returncode}):\n{done.stderr[-4000:]}")


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
