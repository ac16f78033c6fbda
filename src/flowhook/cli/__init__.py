"""The ``flowhook`` command line: the only package that imports click."""

from __future__ import annotations

import logging
from typing import Any

import click

from .._plugins import plugin_hooks
from .._version import __version__
from .blocks import block, notify, outbox
from .common import FlowhookGroup
from .config import config
from .deliver import deliver
from .install import install, uninstall
from .plugins import plugin_group, plugins_command
from .run import run_command
from .runs import runs
from .store import store_group
from .ui import ui
from .watch import watch

logger = logging.getLogger("flowhook.cli")


@click.group(cls=FlowhookGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flowhook")
def cli() -> None:
    """flowhook: run flows and tasks in-process; every state transition is a plugin hook."""


cli.add_command(plugins_command)
cli.add_command(plugin_group)
cli.add_command(install)
cli.add_command(uninstall)
cli.add_command(run_command)
cli.add_command(runs)
cli.add_command(watch)
cli.add_command(block)
cli.add_command(notify)
cli.add_command(outbox)
cli.add_command(deliver)
cli.add_command(config)
cli.add_command(store_group)
cli.add_command(ui)


def build_cli() -> click.Group:
    """The command line with the plugins' commands added (``register_commands``)."""
    error = plugin_hooks().register_commands(cli)
    if error is not None:
        raise error
    return cli


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``flowhook`` console script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return build_cli().main(args=argv, prog_name="flowhook")
