"""``flowhook config`` and ``flowhook config check``: which file is read, and is it right."""

from __future__ import annotations

from typing import Any

import click

from flowhook_hookspec.errors import ConfigError

from .._config import Config, EnvValue, NotificationRuleConfig, load_config
from ..notifications import config_problems
from .errors import one_line_errors
from .stores import command_settings, command_store

__all__ = ["config"]


def _load() -> Config:
    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _saved_blocks() -> list[tuple[str, str]]:
    with command_store() as store:
        return [] if store is None else store.list_blocks()


@click.group("config", invoke_without_command=True)
@click.pass_context
@one_line_errors
def config(context: click.Context) -> None:
    """Show which config file is read, and its rules and blocks as resolved.

    The file is FLOWHOOK_CONFIG, else the nearest flowhook.toml or pyproject.toml with
    [tool.flowhook] here or in a parent directory (up to a repository root), else
    $FLOWHOOK_HOME/flowhook.toml.
    """
    if context.invoked_subcommand is not None:
        return
    loaded = _load()
    if loaded.source is None:
        click.echo(
            "Config file: none found (FLOWHOOK_CONFIG is unset, no flowhook.toml or pyproject.toml "
            "with [tool.flowhook] here or above, none in $FLOWHOOK_HOME). No rules."
        )
        _echo_store()
        return
    click.echo(f"Config file: {loaded.source}")
    click.echo(f"Rules: {len(loaded.notifications) or 'none'}")
    for index, rule in enumerate(loaded.notifications):
        click.echo(f"  notifications[{index}]: {_describe_rule(rule)}")
    click.echo(f"Blocks declared in the file: {len(loaded.blocks) or 'none'}")
    for name, fields in sorted(loaded.blocks.items()):
        click.echo(f"  {name}: {_describe_fields(fields)}")
    _echo_store()


def _echo_store() -> None:
    """Which store is used: the SQLite file, or the PostgreSQL URL with its password masked."""
    settings = command_settings()
    kind = "PostgreSQL" if settings.is_postgres else "SQLite"
    click.echo(f"Store: {settings.location} ({kind})")


def _describe_rule(rule: NotificationRuleConfig) -> str:
    subject = "task runs" if rule.tasks is not None else "flow runs"
    patterns = rule.tasks if rule.tasks is not None else rule.flows
    named = f" named {' or '.join(patterns)}" if patterns else ""
    tagged = f" tagged {' or '.join(rule.tags)}" if rule.tags else ""
    return f"{subject}{named}{tagged} entering {', '.join(rule.on)} -> {', '.join(rule.blocks)}"


def _describe_fields(fields: dict[str, Any]) -> str:
    """Field names and where each value comes from; never the values (they may be secrets)."""
    shown = []
    for key, value in sorted(fields.items()):
        env = value.get("env") if isinstance(value, dict) else None
        if isinstance(value, EnvValue):
            env = value.env
        shown.append(f"{key} from ${env}" if env else f"{key} set")
    return ", ".join(shown) or "no fields"


@config.command("check")
@one_line_errors
def config_check() -> None:
    """Check the config without running anything: one line per problem, exit status 1.

    Checks state names and keys (with "did you mean"), that every block a rule names exists,
    that templates compile, that environment variables the blocks read are set, and that a
    plugin provides every block type. Exit status 0, with a one-line summary, when all is well.
    """
    loaded = _load()
    problems = config_problems(loaded, _saved_blocks())
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    if loaded.source is None:
        click.echo("OK: no config file, so no rules to check.")
        return
    click.echo(
        f"OK: {loaded.source}: {len(loaded.notifications)} rule(s) and "
        f"{len(loaded.blocks)} declared block(s), no problems."
    )
