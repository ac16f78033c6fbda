"""The ``flowhook`` command line."""

from __future__ import annotations

import json
import logging
from typing import Any

import attrs
import click

from . import __version__
from .plugins import list_plugins, plugin_manager

logger = logging.getLogger("flowhook.cli")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flowhook")
def cli() -> None:
    """flowhook: run flows and tasks in-process; every state transition is a plugin hook."""


def _jsonable(_: Any, __: Any, value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: name, version, status and hooks (and why one failed)."""
    infos = list_plugins()
    if as_json:
        rows = [attrs.asdict(info, value_serializer=_jsonable) for info in infos]
        click.echo(json.dumps(rows, indent=2))
        return
    if not infos:
        click.echo("No plugins installed. Plugins register in the 'flowhook' entry-point group.")
        return
    table: list[tuple[str, str, str, str]] = [("NAME", "VERSION", "STATUS", "HOOKS")]
    table += [(i.name, i.version or "-", i.status, ", ".join(i.hooks) or "-") for i in infos]
    widths = [max(len(row[col]) for row in table) for col in range(3)]
    for row in table:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[3]
        )
    for info in infos:
        if info.error:
            click.echo(f"\n{info.name} is {info.status}: {info.error}")


def build_cli() -> click.Group:
    """The command line with the plugins' commands added (``register_commands``)."""
    manager = plugin_manager()
    error = (
        manager.dispatch("register_commands", {"cli": cli})
        if manager.callers("register_commands")
        else None
    )
    if error is not None:
        raise error
    return cli


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``flowhook`` console script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return build_cli().main(args=argv, prog_name="flowhook")
