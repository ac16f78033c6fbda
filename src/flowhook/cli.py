"""The ``flowhook`` command line."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import attrs
import click

from . import __version__
from .notifications.commands import block, notify, outbox
from .plugins import list_plugins, plugin_manager
from .scaffold import PluginNameError, new_plugin
from .store.commands import runs, watch

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


@cli.group("plugin")
def plugin_group() -> None:
    """Tools for plugin authors."""


@plugin_group.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Where to create flowhook-NAME/.",
)
def plugin_new(name: str, directory: Path) -> None:
    """Create flowhook-NAME/: a plugin distribution with one hook, a README and a test."""
    try:
        target = new_plugin(name, directory)
    except PluginNameError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    except (FileExistsError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {target}")
    click.echo(f"Next: cd {target} && pip install -e '.[test]' && pytest && flowhook plugins")


cli.add_command(runs)
cli.add_command(watch)
cli.add_command(block)
cli.add_command(notify)
cli.add_command(outbox)


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


if __name__ == "__main__":
    main()
