"""``flowhook store migrate`` and ``flowhook store copy``: the store's schema and its moves."""

from __future__ import annotations

from pathlib import Path

import attrs
import click

from ..store import (
    POSTGRES_SCHEMES,
    SCHEMA_VERSION,
    Store,
    StoreSettings,
    copy_history,
    mask_url,
    open_store,
)
from .errors import one_line_errors
from .stores import command_settings

__all__ = ["store_group"]


@click.group("store")
def store_group() -> None:
    """The store's schema, and copying its history between SQLite and PostgreSQL."""


@store_group.command("migrate")
@one_line_errors
def migrate() -> None:
    """Apply the schema migrations this flowhook needs to the store (FLOWHOOK_STORE_URL, or the
    SQLite file in $FLOWHOOK_HOME). Safe to run from several hosts at once."""
    settings = command_settings()
    store = open_store(settings, create=True, migrate=True)
    before = getattr(store, "migrated_from", None)
    store.close()
    if before is None:
        click.echo(f"{settings.location} is at schema version {SCHEMA_VERSION}; nothing to do.")
    else:
        click.echo(
            f"Migrated {settings.location} from schema version {before} to {SCHEMA_VERSION}."
        )


def _settings_of(target: str, base: StoreSettings) -> StoreSettings:
    """The settings of a store named on the command line: a PostgreSQL URL, or a SQLite file
    (a path, or ``sqlite:///path``)."""
    scheme = target.split("://", 1)[0].lower() if "://" in target else ""
    if scheme in POSTGRES_SCHEMES:
        return attrs.evolve(base, url=target)
    if scheme not in ("", "sqlite"):
        raise click.BadParameter(
            f"{mask_url(target)!r} is neither a postgresql:// URL nor a SQLite file path"
        )
    path = Path(target.split("://", 1)[1] if scheme else target).expanduser()
    if path.is_dir():
        path = path / "flowhook.db"
    return attrs.evolve(base, url=None, home=path.parent, database_name=path.name)


def _open(settings: StoreSettings, *, source: bool) -> Store:
    # The source as the settings say (SQLite migrates itself); the target to this schema.
    return open_store(settings, create=not source, migrate=None if source else True)


@store_group.command("copy")
@click.option("--from", "source", required=True, help="the store to copy: a URL or a file")
@click.option("--to", "target", required=True, help="an empty store to copy into")
@one_line_errors
def copy(source: str, target: str) -> None:
    """Copy the whole history (runs, events, processes, blocks, outbox) from one store to
    another, e.g. from ~/.flowhook/flowhook.db to postgresql://host/flowhook, or back. The
    target is created (and migrated) when needed, and must hold no history yet."""
    base = command_settings()
    source_settings = _settings_of(source, base)
    target_settings = _settings_of(target, base)
    if source_settings.location == target_settings.location:
        raise click.BadParameter("--from and --to name the same store")
    if source_settings.url is None and not source_settings.database.is_file():
        raise click.ClickException(f"there is no flowhook database at {source_settings.location}")
    source_store = _open(source_settings, source=True)
    try:
        target_store = _open(target_settings, source=False)
        try:
            copied = copy_history(source_store, target_store)
        finally:
            target_store.close()
    finally:
        source_store.close()
    summary = ", ".join(f"{count} {table}" for table, count in copied.items())
    click.echo(f"Copied {source_settings.location} to {target_settings.location}: {summary}.")
