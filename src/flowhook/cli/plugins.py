"""``flowhook plugins`` and ``flowhook plugin new``: what is installed, and a new plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import click

from .._plugins import list_plugins
from .output import echo_json
from .scaffold import PluginNameError, new_plugin

__all__ = ["plugin_group", "plugins_command"]


def _jsonable(_: Any, __: Any, value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: name, version, status and hooks (and why one failed)."""
    infos = list_plugins()
    if as_json:
        rows = [attrs.asdict(info, value_serializer=_jsonable) for info in infos]
        echo_json(rows)
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


@click.group("plugin")
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
