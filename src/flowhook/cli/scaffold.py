"""``flowhook plugin new``: the skeleton of a plugin distribution, ready to install and test."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from flowhook_hookspec import __version__ as hookspec_version

__all__ = ["PluginNameError", "new_plugin"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class PluginNameError(ValueError):
    """The plugin name cannot make a distribution and module name."""


_PYPROJECT = Template("""\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "flowhook-$name"
version = "0.1.0"
description = "A flowhook plugin"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["flowhook-hookspec>=$hookspec_version"]

[project.optional-dependencies]
test = ["pytest>=8", "flowhook"]

# The entry-point name is what users give FLOWHOOK_DISABLE_PLUGINS: keep it short and stable.
[project.entry-points.flowhook]
$name = "$module"

[tool.setuptools]
py-modules = ["$module"]
""")

_MODULE = Template('''\
"""flowhook-$name: a flowhook plugin.

Installed, it sees every transition of every flow run and task run in its environment.
The hooks and their arguments: see flowhook's hook reference. Whole plugins to learn from, in
flowhook's repository (plugins/): flowhook-otel follows every transition (a span per run), and
flowhook-apprise adds a notifier block type.
"""

from __future__ import annotations

import logging

from flowhook_hookspec import hookimpl

logger = logging.getLogger("flowhook_$underscored")


@hookimpl
def on_flow_run_failure(flow, flow_run, state):
    """Log every flow run that fails for good."""
    logger.warning("flow run %s of %s failed: %s", flow_run.name, flow_run.flow_name, state.message)
''')

_README = Template("""\
# flowhook-$name

A [flowhook](https://pypi.org/project/flowhook/) plugin: it logs every flow run that fails for
good on logger `flowhook_$underscored`.

## Install

```sh
pip install -e .
flowhook plugins          # lists "$name" as active
```

Disable it without uninstalling: `FLOWHOOK_DISABLE_PLUGINS=$name`.

## Test

```sh
pip install -e '.[test]'
pytest
```

The tests use the fixtures of `flowhook.testing` (installed with flowhook):
`flowhook_plugins` (an isolated plugin manager) and `flowhook_hook_recorder`. Tests that need
a local Slack-like or SMTP server (`flowhook_slack_webhook_server`, `flowhook_smtp_server`) need
`flowhook[testing]` in the test extra instead of `flowhook`.

## Examples

Two plugins in flowhook's repository (`plugins/`) show the two common shapes:
`flowhook-otel` observes every transition and keeps state per run (an OpenTelemetry span), and
`flowhook-apprise` adds a notifier block type usable in notification rules.
""")

_TEST = Template("""\
import logging

import pytest
from flowhook import flow

import $module


def test_failures_are_logged(flowhook_plugins, flowhook_hook_recorder, caplog, monkeypatch):
    monkeypatch.setenv("FLOWHOOK_STRICT_HOOKS", "1")  # errors in our hooks fail the test
    flowhook_plugins.register($module)

    @flow
    def doomed():
        raise ValueError("no luck")

    with caplog.at_level(logging.WARNING, logger="flowhook_$underscored"):
        with pytest.raises(ValueError):
            doomed()

    flowhook_hook_recorder.assert_called("on_flow_run_failure", times=1)
    assert "no luck" in caplog.text


def test_the_entry_point_is_installed():
    from importlib.metadata import entry_points

    [entry_point] = [ep for ep in entry_points(group="flowhook") if ep.name == "$name"]
    assert entry_point.load() is $module
""")


def new_plugin(name: str, directory: Path) -> Path:
    """Write ``flowhook-<name>/`` under ``directory``; returns its path.

    Raises :class:`PluginNameError` for a name that is not lower-case words joined by hyphens,
    and :class:`FileExistsError` when the target exists and is not empty.
    """
    if name.startswith("flowhook-"):
        name = name[len("flowhook-") :]
    if not _NAME.match(name):
        raise PluginNameError(
            f"{name!r} is not a valid plugin name: use lower-case letters and digits, words "
            "joined by hyphens, starting with a letter (e.g. 'pagerduty' or 'audit-log')"
        )
    underscored = name.replace("-", "_")
    values = {
        "name": name,
        "underscored": underscored,
        "module": f"flowhook_{underscored}",
        "hookspec_version": hookspec_version,
    }
    target = directory / f"flowhook-{name}"
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} already exists and is not empty; choose another --dir")
    files = {
        "pyproject.toml": _PYPROJECT,
        f"flowhook_{underscored}.py": _MODULE,
        "README.md": _README,
        f"tests/test_{underscored}.py": _TEST,
    }
    for relative, template in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.substitute(values))
    return target
