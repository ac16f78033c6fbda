"""Blocks: named, saved notifier configurations, named ``type/name`` everywhere.

    from flowhook import Block

    Block.load("slack-webhook/ops").notify("the nightly load failed")

A block comes from one of two places: declared in the config file (``[blocks."slack-webhook/ops"]``,
values possibly ``{ env = "NAME" }`` so that no secret sits in a file), or saved in the store
(``notifier.save("ops")``, ``flowhook block create``): its plain fields in the store, its
secret fields in a file of their own (:mod:`._secrets`). A name declared in config wins.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import types
import typing
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from flowhook_hookspec.errors import ConfigError, NotificationError
from flowhook_hookspec.notify import MASK, Notifier, Secret, redact

from .._config import load_config, resolve_value
from ._registry import notifier_types
from ._secrets import delete_secrets, load_secrets, save_secrets

if TYPE_CHECKING:
    from ..store import Store

__all__ = [
    "BLOCK_NAME_PATTERN",
    "Block",
    "BlockError",
    "BlockExistsError",
    "MissingNotifierError",
    "parse_block_name",
    "save_block",
]


class BlockError(NotificationError):
    """A block name, type or field is wrong, or the block does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class BlockExistsError(BlockError):
    """A block of that name is saved already, and was not to be overwritten."""

    def __init__(self, name: str) -> None:
        super().__init__(f"block {name!r} exists; pass overwrite=True to replace it")
        self.name = name


class MissingNotifierError(BlockError):
    """No installed, enabled plugin provides the block's type. Not permanent: a message for such
    a block stays pending, and is delivered once the plugin is installed or enabled again."""

    def __init__(self, message: str) -> None:
        NotificationError.__init__(self, message, permanent=False)


#: A block's own name, the part after ``TYPE/`` (and its type, the part before): 1 to 64
#: letters, digits, ``-``, ``_`` and ``.``, starting with a letter or a digit. Names appear in
#: shell commands, config keys and log lines unquoted: no spaces, no slashes, nothing a shell or
#: a terminal would read differently.
BLOCK_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_BLOCK_NAME = re.compile(BLOCK_NAME_PATTERN)
_NAME_RULE = (
    "a block is named TYPE/NAME, where NAME has 1 to 64 letters, digits, '-', '_' or '.' and "
    "starts with a letter or digit, e.g. 'slack-webhook/ops'"
)


def parse_block_name(name: str, *, strict: bool = True) -> tuple[str, str]:
    """``("slack-webhook", "ops")`` for ``"slack-webhook/ops"``; BlockError otherwise.

    ``strict=False`` accepts any name with one slash: blocks saved before names were checked can
    still be deleted.
    """
    block_type, _, block_name = name.partition("/")
    if not block_type or not block_name or "/" in block_name:
        raise BlockError(f"{name!r} is not a block name: {_NAME_RULE}")
    if strict and not (_BLOCK_NAME.fullmatch(block_type) and _BLOCK_NAME.fullmatch(block_name)):
        raise BlockError(f"{name!r} is not a block name: {_NAME_RULE}")
    return block_type, block_name


def notifier_class(block_type: str) -> type[Notifier]:
    """The notifier class of a block type, from the installed plugins."""
    types_ = notifier_types()
    if block_type not in types_:
        known = (
            ", ".join(types_) or "none: install flowhook-slack, flowhook-email or flowhook-logging"
        )
        raise MissingNotifierError(
            f"unknown block type {block_type!r}: no installed and enabled plugin provides it "
            "(install its plugin, or take it out of FLOWHOOK_DISABLE_PLUGINS); installed block "
            f"types: {known}"
        )
    return types_[block_type]


def _field_kind(field: attrs.Attribute) -> str:  # type: ignore[type-arg]
    hint: Any = field.type
    if isinstance(hint, str):
        hint = hint.replace(" ", "")
        if "Secret" in hint:
            return "secret"
        for kind in ("list", "tuple", "bool", "int", "float"):
            if hint.startswith(kind) or f"|{kind}" in hint or f"{kind}|" in hint:
                return "list" if kind == "tuple" else kind
        return "str"
    origin = typing.get_origin(hint)
    options = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    for option in options:
        base = typing.get_origin(option) or option
        if base is Secret:
            return "secret"
        if base in (list, tuple):
            return "list"
        if base in (bool, int, float):
            return base.__name__  # type: ignore[no-any-return]
    return "str"


def describe_fields(cls: type[Notifier]) -> list[tuple[str, str, bool]]:
    """(name, kind, required) for every field of a notifier class."""
    with contextlib.suppress(Exception):  # unresolvable annotations: the string form is read
        attrs.resolve_types(cls)
    return [
        (field.name.lstrip("_"), _field_kind(field), field.default is attrs.NOTHING)
        for field in attrs.fields(cls)
        if field.init
    ]


def _convert(value: str, kind: str, field: str) -> Any:
    if kind == "list":
        return [item.strip() for item in value.split(",") if item.strip()]
    if kind == "bool":
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise BlockError(f"field {field!r} takes true or false, got {value!r}")
    if kind in ("int", "float"):
        try:
            return int(value) if kind == "int" else float(value)
        except ValueError:
            raise BlockError(f"field {field!r} takes a number, got {value!r}") from None
    return value


def build_notifier(
    cls: type[Notifier], values: dict[str, Any], *, from_text: bool = False
) -> Notifier:
    """A notifier from field values; text values (the CLI's ``--set``) are converted by type.

    Unknown or missing fields and invalid values are a :class:`BlockError` listing the fields.
    Its message never shows the value of a secret field, nor an unknown field name that is not
    a name (``--set https://hooks...=x``: a value given where a field name belongs).
    """
    fields = {name: (kind, required) for name, kind, required in describe_fields(cls)}
    secrets = [
        value if isinstance(value, Secret) else str(value)
        for name, value in values.items()
        if name in fields and fields[name][0] == "secret"
    ]
    try:
        return _build(cls, fields, values, from_text)
    except BlockError as exc:
        raise BlockError(redact(str(exc), *secrets)) from None


def field_listing(cls: type[Notifier]) -> str:
    """``url (secret, required), username (str), ...``: the fields of a notifier class."""
    return ", ".join(
        f"{name} ({kind}{', required' if required else ''})"
        for name, kind, required in describe_fields(cls)
    )


def _shown_name(name: str) -> str:
    return repr(name) if name.isidentifier() else repr(MASK)


def _build(
    cls: type[Notifier],
    fields: dict[str, tuple[str, bool]],
    values: dict[str, Any],
    from_text: bool,
) -> Notifier:
    listing = field_listing(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise BlockError(
            f"{cls.block_type} has no field {', '.join(map(_shown_name, unknown))}; "
            f"its fields: {listing}"
        )
    missing = [name for name, (_, required) in fields.items() if required and name not in values]
    if missing:
        raise BlockError(
            f"{cls.block_type} needs {', '.join(map(repr, missing))}; its fields: {listing}"
        )
    if from_text:
        values = {name: _convert(value, fields[name][0], name) for name, value in values.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise BlockError(f"invalid {cls.block_type} block: {_invalid_value(exc)}") from None


def _invalid_value(exc: Exception) -> object:
    """Why a notifier refused its values, in one line.

    Notifiers validate their own values, and should never quote secrets (build_notifier masks
    them anyway). attrs' validators give (message, attribute, ...): the message, or, for
    ``attrs.validators.in_`` (message, attribute, choices, value), the choices in a sentence.
    """
    args = exc.args
    if len(args) == 4 and isinstance(args[1], attrs.Attribute) and isinstance(args[2], Iterable):
        choices = ", ".join(map(str, args[2]))
        return f"field {args[1].name.lstrip('_')!r} takes one of: {choices} (got {args[3]!r})"
    return args[0] if len(args) > 1 and isinstance(args[0], str) else exc


def dump_notifier(notifier: Notifier) -> tuple[dict[str, Any], dict[str, str]]:
    """The field values of a notifier: the plain ones (for the store) and the secret ones,
    revealed (for the secrets file only, see :mod:`._secrets`)."""
    plain: dict[str, Any] = {}
    secret: dict[str, str] = {}
    for field in attrs.fields(type(notifier)):
        if not field.init:
            continue
        value = getattr(notifier, field.name)
        name = field.name.lstrip("_")
        if isinstance(value, Secret):
            secret[name] = value.get_secret_value()
            continue
        plain[name] = list(value) if isinstance(value, tuple) else value
    return plain, secret


def _config_blocks() -> dict[str, dict[str, Any]]:
    return load_config().blocks


def _from_config(name: str, declared: dict[str, Any]) -> Notifier:
    block_type, _ = parse_block_name(name)
    values = {
        key: resolve_value(value, f"block {name!r} field {key!r}")
        for key, value in declared.items()
    }
    return build_notifier(notifier_class(block_type), values)


@contextlib.contextmanager
def _saved_blocks(*, create: bool = False) -> Iterator[Store | None]:
    """The store that holds the saved blocks. Reading (``create=False``) never creates a
    database: with none yet, this is None, and there are no saved blocks."""
    from ..store import StoreError, open_existing_store, open_store

    try:
        store = open_store() if create else open_existing_store()
    except (StoreError, ConfigError) as exc:
        raise BlockError(f"blocks are unavailable: {exc}") from None
    try:
        yield store
    finally:
        if store is not None:
            store.close()


def save_block(notifier: Notifier, name: str, overwrite: bool = False) -> str:
    """Save ``notifier`` as ``<block_type>/<name>``; returns the full name.

    Its plain fields go to the store, its secret fields to the secrets file (mode 0600).
    """
    full = name if "/" in name else f"{notifier.block_type}/{name}"
    block_type, name = parse_block_name(full)
    if block_type != notifier.block_type:
        raise BlockError(
            f"a {notifier.block_type} notifier cannot be saved as a {block_type} block"
        )
    plain, secret = dump_notifier(notifier)
    with _saved_blocks(create=True) as store:
        assert store is not None
        if not store.save_block(notifier.block_type, name, plain, overwrite=overwrite):
            raise BlockExistsError(full)
    save_secrets(full, secret)  # after the store: a refused save leaves the old secrets alone
    return full


class Block:
    """Load, list and delete blocks. Every name is ``type/name``."""

    @staticmethod
    def load(name: str) -> Notifier:
        """The ready notifier of block ``name``; BlockError if there is none."""
        block_type, block_name = parse_block_name(name)
        declared = _config_blocks()
        if name in declared:
            return _from_config(name, declared[name])
        with _saved_blocks() as store:
            data = None if store is None else store.load_block(block_type, block_name)
        if data is None:
            close = difflib.get_close_matches(name, Block.list(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BlockError(f"no block named {name!r}; `flowhook block ls` lists them{hint}")
        # A block saved before secrets had a file of their own holds them in ``data``.
        return build_notifier(notifier_class(block_type), {**data, **load_secrets(name)})

    @staticmethod
    def list() -> list[str]:
        """The names of every block: declared in config and saved, sorted."""
        with _saved_blocks() as store:
            saved = (
                [] if store is None else [f"{kind}/{name}" for kind, name in store.list_blocks()]
            )
        return sorted(set(saved) | set(_config_blocks()))

    @staticmethod
    def delete(name: str) -> None:
        """Delete a saved block; BlockError if it does not exist or is declared in config."""
        block_type, block_name = parse_block_name(name, strict=False)
        if name in _config_blocks():
            raise BlockError(f"block {name!r} is declared in the config file; remove it there")
        with _saved_blocks() as store:
            if store is None or not store.delete_block(block_type, block_name):
                raise BlockError(f"no saved block named {name!r}")
        delete_secrets(name)
