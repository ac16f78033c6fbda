"""The pytest plugin flowhook.testing: prefixed fixture names, and server fixtures that say what
to install when the ``testing`` extra (the distribution flowhook-testing) is missing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import flowhook.testing
from flowhook.testing import plugin
from flowhook_testing import SMTPServer

SERVER_FIXTURES = ["flowhook_slack_webhook_server", "flowhook_smtp_server"]


def fixture_names() -> list[str]:
    """The functions of flowhook/testing/plugin.py decorated ``@pytest.fixture``."""
    tree = ast.parse(Path(plugin.__file__).read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(
            ast.unparse(decorator).startswith("pytest.fixture") for decorator in node.decorator_list
        )
    ]


def test_every_fixture_is_prefixed_and_exported() -> None:
    names = fixture_names()
    assert len(names) == 5
    assert [name for name in names if not name.startswith("flowhook_")] == []
    assert sorted(names) == sorted(plugin.__all__)


def test_the_package_exports_the_fixture_types() -> None:
    from flowhook._plugins import PluginManager
    from flowhook.testing.recorder import HookRecorder

    assert flowhook.testing.PluginManager is PluginManager
    assert flowhook.testing.HookRecorder is HookRecorder


@pytest.mark.parametrize("fixture", SERVER_FIXTURES)
def test_a_server_fixture_without_the_extra_fails_in_one_line(
    fixture: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "flowhook_testing", None)  # import flowhook_testing fails
    with pytest.raises(pytest.fail.Exception) as failed:
        request.getfixturevalue(fixture)
    assert str(failed.value) == (
        f"{fixture} needs the local test servers of flowhook-testing, which is not installed: "
        "pip install 'flowhook[testing]'"
    )
    assert failed.value.pytrace is False  # the line alone, no traceback into the plugin...
    assert failed.value.__suppress_context__  # ...nor the ImportError before it


def test_a_server_fixture_names_a_broken_install(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flowhook-testing installed without its dependencies (``pip install --no-deps``)."""
    for name in [name for name in sys.modules if name.split(".")[0] == "flowhook_testing"]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test
    monkeypatch.setitem(sys.modules, "aiosmtpd.controller", None)
    with pytest.raises(pytest.fail.Exception) as failed:
        request.getfixturevalue("flowhook_smtp_server")
    message = str(failed.value)
    assert message.startswith(
        "flowhook_smtp_server needs the local test servers of flowhook-testing"
    )
    assert "aiosmtpd" in message and message.endswith("pip install 'flowhook[testing]'")


def test_the_plugin_imports_without_the_extra() -> None:
    """The pytest11 entry point loads in every environment with flowhook, the extra or not."""
    code = (
        "import sys; sys.modules['flowhook_testing'] = None; "
        "import flowhook.testing, flowhook.testing.plugin; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


def test_the_smtp_fixture_defaults_to_starttls_and_auth(flowhook_smtp_server: SMTPServer) -> None:
    assert flowhook_smtp_server.security == "starttls"
    assert flowhook_smtp_server.username == "flowhook" and flowhook_smtp_server.password


@pytest.mark.parametrize(
    "flowhook_smtp_server", [{"security": "none", "username": None}], indirect=True
)
def test_the_smtp_fixture_takes_indirect_parameters(flowhook_smtp_server: SMTPServer) -> None:
    assert (flowhook_smtp_server.security, flowhook_smtp_server.username) == ("none", None)
