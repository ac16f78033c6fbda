"""The ``flowhook`` command line: the only package that imports click."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from .._version import __version__
from .group import FlowhookGroup

#: How a command shows what is logged: WARNING and above, on stderr, with level and logger.
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

#: The commands, each imported when it runs: a command pays only for its own imports.
_COMMANDS = {
    "plugins": ".plugins:plugins_command",
    "plugin": ".plugins:plugin_group",
    "install": ".install:install",
    "uninstall": ".install:uninstall",
    "run": ".run:run_command",
    "runs": ".runs:runs",
    "watch": ".watch:watch",
    "block": ".blocks:block",
    "notify": ".blocks:notify",
    "outbox": ".blocks:outbox",
    "deliver": ".deliver:deliver",
    "config": ".config:config",
    "store": ".store:store_group",
    "ui": ".ui:ui",
}


@click.group(
    cls=FlowhookGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    lazy_commands=_COMMANDS,
)
@click.version_option(__version__, prog_name="flowhook")
def cli() -> None:
    """flowhook: run flows and tasks in-process; every state transition is a plugin hook."""


def build_cli() -> click.Group:
    """The command line with the plugins' commands added (``register_commands``)."""
    from .._plugins import plugin_hooks

    assert isinstance(cli, FlowhookGroup)
    cli.load_all()
    error = plugin_hooks().register_commands(cli)
    if error is not None:
        raise error
    return cli


def _is_builtin(args: list[str]) -> bool:
    """Whether ``args`` run one of flowhook's own commands: then the plugins' entry points are
    not loaded (a plugin's command is found only after they are)."""
    name = next((arg for arg in args if not arg.startswith("-")), None)
    return name in _COMMANDS and not {"-h", "--help"} & set(args[: args.index(name)])


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``flowhook`` console script."""
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    args = sys.argv[1:] if argv is None else argv
    group = cli if _is_builtin(args) else build_cli()
    return group.main(args=args, prog_name="flowhook")
