"""``flowhook block``, ``flowhook notify`` and ``flowhook outbox``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import attrs
import click

from flowhook_hookspec.errors import ConfigError, NotificationError, PluginError
from flowhook_hookspec.notify import MASK, Secret, redact
from flowhook_hookspec.run_ids import short_run_id

from .._config import load_config
from ..notifications import (
    Block,
    BlockError,
    BlockExistsError,
    build_notifier,
    describe_fields,
    field_listing,
    notifier_class,
    notifier_types,
    parse_block_name,
)
from .arguments import IntegerRange
from .errors import BadArgument
from .output import echo_json
from .stores import command_store, deliver_now, registered

__all__ = ["block", "notify", "outbox"]


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


def _open_store() -> Any:
    """The existing store (none is created), or a one-line error (exit 1) when there is none or
    it cannot be used."""
    from ..store import StoreError, open_store

    try:
        return open_store(create=False)
    except (StoreError, ConfigError) as exc:
        raise _fail(exc) from None


@click.group()
def block() -> None:
    """Named notifier configurations (blocks), named TYPE/NAME."""


@block.command("types")
def block_types() -> None:
    """List the block types the installed plugins provide, with their fields."""
    try:
        types_ = notifier_types()
    except PluginError as exc:
        raise _fail(exc) from None
    if not types_:
        click.echo("No block types: install flowhook-slack, flowhook-email or flowhook-logging.")
        return
    for block_type, cls in types_.items():
        click.echo(f"{block_type}  {cls.description or cls.__doc__ or ''}".rstrip().split("\n")[0])
        for name, kind, required in describe_fields(cls):
            click.echo(f"    {name:16} {kind:7} {'required' if required else 'optional'}")


def _parse_sets(values: tuple[str, ...], cls: Any) -> dict[str, str]:
    """The ``--set FIELD=VALUE`` pairs. A malformed one is a one-line error that never shows it:
    what lacks its ``FIELD=`` is often the secret itself (``--set https://hooks...``)."""
    fields: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadArgument(
                f"--set takes FIELD=VALUE, and one value has no FIELD= (not shown: it may be a "
                f"secret); {cls.block_type} fields: {field_listing(cls)}"
            )
        fields[key.strip()] = value
    return fields


@block.command("create", context_settings={"allow_extra_args": True})
@click.argument("name")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help="A field value (repeat).")
@click.option("--overwrite", is_flag=True, help="Replace a saved block of the same name.")
@click.pass_context
def block_create(context: click.Context, name: str, sets: tuple[str, ...], overwrite: bool) -> None:
    """Save the block NAME (TYPE/NAME), e.g. slack-webhook/ops --set url=https://hooks...

    A list field takes comma-separated values. A required secret field that is not given is
    asked for with hidden input when a terminal is attached. No error shows a secret field's
    value, nor a value given without its FIELD=.
    """
    if context.args:  # not click's usage error, which would show them: they may be secrets
        raise BadArgument(
            f"block create takes one NAME, and got {len(context.args)} more argument(s) (not "
            "shown: they may be secrets); give field values as --set FIELD=VALUE"
        )
    try:
        block_type, block_name = parse_block_name(name)
        cls = notifier_class(block_type)
        values = _parse_sets(sets, cls)
        for field, kind, required in describe_fields(cls):
            if required and kind == "secret" and field not in values:
                if not sys.stdin.isatty():
                    raise BlockError(
                        f"{block_type} needs the secret field {field!r}: pass --set {field}=... "
                        "or run in a terminal to be asked for it"
                    )
                values[field] = click.prompt(field, hide_input=True)
        notifier = build_notifier(cls, values, from_text=True)
        saved = notifier.save(block_name, overwrite=overwrite)
    except BlockExistsError as exc:
        raise click.ClickException(
            f"block {exc.name!r} exists; pass --overwrite to replace it"
        ) from None
    except (NotificationError, PluginError) as exc:
        raise _fail(exc) from None
    click.echo(f"Saved {saved}.")


@block.command("ls")
def block_ls() -> None:
    """List blocks: those saved and those declared in the config file."""
    try:
        declared = set(load_config().blocks)
        names = Block.list()
    except (ConfigError, NotificationError) as exc:
        raise _fail(exc) from None
    if not names:
        click.echo("No blocks. Create one with: flowhook block create TYPE/NAME --set FIELD=VALUE")
        return
    for name in names:
        click.echo(f"{name}  ({'config' if name in declared else 'saved'})")


def _shown(value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return value


@block.command("show")
@click.argument("name")
def block_show(name: str) -> None:
    """Show a block's fields (secrets masked)."""
    try:
        notifier = Block.load(name)
    except (NotificationError, ConfigError, PluginError) as exc:
        raise _fail(exc) from None
    click.echo(name)
    for field in attrs.fields(type(notifier)):
        if field.init:
            click.echo(f"    {field.name.lstrip('_'):16} {_shown(getattr(notifier, field.name))}")


@block.command("rm")
@click.argument("name")
def block_rm(name: str) -> None:
    """Delete a saved block."""
    try:
        Block.delete(name)
    except NotificationError as exc:
        raise _fail(exc) from None
    click.echo(f"Deleted {name}.")


@click.command()
@click.argument("name")
@click.argument("text")
@click.option("--subject", help="A subject, for channels that have one.")
def notify(name: str, text: str, subject: str | None) -> None:
    """Send TEXT through block NAME now, and say whether it worked (exit 1 if not)."""
    notifier = None
    try:
        notifier = Block.load(name)
        with _logs_shown():  # a log block's record is the notification: let the user see it
            notifier.notify(text, subject)
    except BlockError as exc:  # the block, not the send, is wrong
        raise _fail(exc) from None
    except NotificationError as exc:
        kind = "permanent" if exc.permanent else "transient"
        secrets = notifier.secrets() if notifier is not None else ()
        raise click.ClickException(redact(f"{kind} failure: {exc}", *secrets)) from None
    except (ConfigError, PluginError) as exc:
        raise _fail(exc) from None
    click.echo(f"Sent to {name}.")


@contextmanager
def _logs_shown() -> Iterator[None]:
    """Show INFO records too (the command line shows WARNING and above), for the duration."""
    root = logging.getLogger()
    previous = root.level
    root.setLevel(min(previous, logging.INFO))
    try:
        yield
    finally:
        root.setLevel(previous)


@click.group()
def outbox() -> None:
    """The notifications waiting to be delivered, delivered, or given up on."""


def _time(seconds: float | None) -> str:
    return "-" if seconds is None else datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


@outbox.command("ls")
@click.option("--status", type=click.Choice(["pending", "sent", "dead"]), help="Only these.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def outbox_ls(status: str | None, as_json: bool) -> None:
    """List notifications, newest first: id, block, status, the run, the subject, when it was
    queued, when the next attempt is due, attempts and the last error."""
    with command_store() as store:
        records = [] if store is None else store.list_outbox(status)
        names = {} if store is None else _run_names(store, records)
    if as_json:
        echo_json(
            [
                {
                    "id": r.id,
                    "block": r.block,
                    "status": r.status,
                    "attempts": r.attempts,
                    "queued": r.created,
                    "next_attempt": r.next_attempt if r.status == "pending" else None,
                    "last_error": r.last_error,
                    "subject": r.subject,
                    "run_kind": r.run_kind,
                    "run_id": r.run_id,
                    "run_name": names.get(r.run_id),
                }
                for r in records
            ]
        )
        return
    if not records:
        click.echo("The outbox is empty." if status is None else f"No {status} notifications.")
        return
    rows = [("ID", "BLOCK", "STATUS", "RUN", "SUBJECT", "QUEUED", "NEXT ATTEMPT", "ATTEMPTS")]
    rows += [
        (
            str(r.id),
            r.block,
            r.status,
            names.get(r.run_id) or short_run_id(r.run_id or "-"),
            _clipped(r.subject or "-", 40),
            _time(r.created),
            _time(r.next_attempt) if r.status == "pending" else "-",
            str(r.attempts),
        )
        for r in records
    ]
    errors = ["LAST ERROR", *((r.last_error or "-")[:80] for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row, error in zip(rows, errors, strict=True):
        click.echo(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + "  " + error
        )


def _clipped(text: str, width: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def _run_names(store: Any, records: list[Any]) -> dict[str | None, str]:
    """The name of the run of each message, by run id (runs pruned since are left out)."""
    names: dict[str | None, str] = {}
    for record in records:
        if record.run_id is None or record.run_kind is None or record.run_id in names:
            continue
        run = store.get_run(record.run_kind, record.run_id)
        if run is not None:
            names[record.run_id] = run.name
    return names


@outbox.command("retry")
@click.argument("message_id", type=IntegerRange(minimum=1), required=False)
@click.option("--all-dead", is_flag=True, help="Retry every dead notification.")
def outbox_retry(message_id: int | None, all_dead: bool) -> None:
    """Make a dead (or pending) notification due again, and try to deliver it now."""
    if (message_id is None) == (not all_dead):
        raise click.UsageError("give a notification ID or --all-dead (not both)")
    store = _open_store()
    try:
        changed = store.retry_outbox(None if message_id is None else [message_id])
        if message_id is not None and not changed:
            raise click.ClickException(f"no pending or dead notification has id {message_id}")
        click.echo(f"{len(changed)} notification(s) made due again.")
        with registered("retry") as claimant:
            click.echo(deliver_now(store, claimant).summary())
    finally:
        store.close()
