"""``flowhook ui`` on the command line: the extra it needs, the address it listens on."""

from __future__ import annotations

import configparser
import fnmatch
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import flowhook.ui
from flowhook.cli import cli


def test_without_the_ui_extra_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.startswith("flowhook.ui")]:
        monkeypatch.delitem(sys.modules, name)
    for name in [name for name in sys.modules if name.split(".")[0] == "starlette"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "starlette", None)
    result = CliRunner().invoke(cli, ["ui"])
    assert result.exit_code == 1
    assert result.output == "flowhook ui needs the ui extra: pip install 'flowhook[ui]'\n"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The (host, port) of each server the command would start (none is)."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(flowhook.ui, "listen", lambda host, port: (host, port))
    monkeypatch.setattr(flowhook.ui, "serve", lambda sock, host, settings: calls.append(sock))
    return calls


def test_it_listens_on_127_0_0_1_port_4200_by_default(served: list[tuple[Any, ...]]) -> None:
    result = CliRunner().invoke(cli, ["ui"])
    assert result.exit_code == 0, result.output
    assert result.output == "flowhook ui on http://127.0.0.1:4200/ (Ctrl-C to stop)\n"
    assert served == [("127.0.0.1", 4200)]


def test_another_address_is_served_with_a_warning(served: list[tuple[Any, ...]]) -> None:
    result = CliRunner().invoke(cli, ["ui", "--host", "0.0.0.0", "--port", "8080"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "Warning: listening on 0.0.0.0, not on this machine alone: anyone who can reach it "
        "can see every run and cancel flow runs (there is no login).",
        "flowhook ui on http://0.0.0.0:8080/ (Ctrl-C to stop)",
    ]
    assert served == [("0.0.0.0", 8080)]


def test_a_bad_port_is_one_line(served: list[tuple[Any, ...]]) -> None:
    result = CliRunner().invoke(cli, ["ui", "--port", "70000"])
    assert result.exit_code == 2
    assert "--port" in result.output and "70000" in result.output
    assert served == []


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["ui", "--port", str(port)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port\n"
    )


def test_an_installed_package_has_every_template_and_static_file() -> None:
    """setup.cfg's package_data names each file of templates/ and static/ (a wheel without
    them serves nothing)."""
    root = Path(__file__).resolve().parents[2]
    config = configparser.ConfigParser()
    config.read(root / "setup.cfg")
    patterns = [p.strip() for p in config["options.package_data"]["flowhook.ui"].split(",")]
    package = root / "src" / "flowhook" / "ui"
    files = [
        path.relative_to(package).as_posix()
        for folder in ("templates", "static")
        for path in (package / folder).iterdir()
    ]
    assert files and [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)] == []
