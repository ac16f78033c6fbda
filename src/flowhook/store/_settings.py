"""The store's settings, read from ``FLOWHOOK_*`` environment variables (their table, with
defaults and meanings, is in docs/store.md, "Where runs are recorded")."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from flowhook_hookspec.errors import ConfigError

from .._config import home_directory, store_url_from_file

__all__ = ["POSTGRES_SCHEMES", "StoreSettings", "load_settings", "mask_url"]

_ON = {"1", "on", "true", "yes", "sqlite"}
_OFF = {"0", "off", "false", "no", "none"}
POSTGRES_SCHEMES = ("postgresql", "postgres")
_PASSWORD_PARAMETER = re.compile(r"(?i)(password=)[^&\s]*")


def mask_url(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) as ``***``."""
    scheme, sep, rest = url.partition("://")
    if sep:
        authority, slash, tail = rest.partition("/")
        if "@" in authority:
            user, _, host = authority.rpartition("@")
            if ":" in user:
                user = user.split(":", 1)[0] + ":***"
            authority = f"{user}@{host}"
        rest = authority + slash + tail
    return _PASSWORD_PARAMETER.sub(r"\1***", scheme + sep + rest)


@attrs.frozen
class StoreSettings:
    """Where the store lives and how crash detection is timed."""

    home: Path
    enabled: bool = True
    heartbeat_seconds: float = 10.0
    crash_after_seconds: float = 60.0
    #: How long a write keeps retrying while other processes hold the database lock (SQLite)
    #: or while the server cannot be reached (PostgreSQL).
    lock_timeout_seconds: float = 30.0
    #: ``postgresql://...`` selects the PostgreSQL store; None is the SQLite file in ``home``.
    url: str | None = attrs.field(default=None, repr=lambda url: repr(url and mask_url(url)))
    #: Apply missing schema migrations on open; None is the backend's default (SQLite: on,
    #: PostgreSQL: off, where ``flowhook store migrate`` does it once for every host).
    auto_migrate: bool | None = None
    #: The SQLite file's name in ``home`` (another one for ``flowhook store copy``).
    database_name: str = "flowhook.db"
    #: How long opening the store and registering the process may hold up a run; a store that
    #: is not usable by then is tried again at the next run.
    attach_timeout_seconds: float = 2.0
    #: How many log records a top-level run (a flow run with its task runs and subflows, or a
    #: task run outside any flow) stores at most; the records past it are counted, not stored.
    run_log_limit: int = 10_000
    #: How many writes (states, logs, alerts) a process keeps in memory while the store cannot
    #: take them; past it the oldest are dropped, and counted in the exit line.
    held_back_limit: int = 200_000
    #: Who writes the runs: ``"thread"`` (a thread of the flow's process), ``"process"`` (a
    #: child process), or ``"auto"``: the child process where it can have a core of its own.
    writer: str = "auto"

    @property
    def database(self) -> Path:
        return self.home / self.database_name

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    @property
    def location(self) -> str:
        """Where the store is, for messages: the file, or the URL without its password."""
        return str(self.database) if self.url is None else mask_url(self.url)

    @property
    def migrates(self) -> bool:
        return self.auto_migrate if self.auto_migrate is not None else self.url is None

    def exists(self) -> bool:
        """Whether there may be a store to read: the file exists, or a server is named (only
        opening it tells)."""
        return self.url is not None or self.database.exists()


def _number(env: Mapping[str, str], name: str, default: float, kind: type[float]) -> Any:
    """The value of ``name`` as a ``kind``, finite and > 0 for seconds (float), >= 0 for a
    count (int); ``default`` when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (value <= 0 if kind is float else value < 0):
        what = "a number of seconds > 0" if kind is float else "a whole number >= 0"
        raise ConfigError(f"{name} takes {what}, e.g. {name}={default:g}; got {raw!r}")
    return value


def _url(env: Mapping[str, str], *, read_file: bool) -> str | None:
    raw = env.get("FLOWHOOK_STORE_URL", "").strip()
    name = "FLOWHOOK_STORE_URL"
    if not raw:
        in_file = store_url_from_file() if read_file else None
        if in_file is None:
            return None
        raw, name = in_file[0].strip(), in_file[1]
    scheme = urlsplit(raw).scheme.lower() if "://" in raw else ""
    if scheme not in POSTGRES_SCHEMES:
        raise ConfigError(
            f"{name} takes a PostgreSQL URL, e.g. "
            f"postgresql://user:password@host:5432/flowhook; got {mask_url(raw)!r}. Unset it to "
            "use the SQLite file in $FLOWHOOK_HOME"
        )
    return raw


def _switch(env: Mapping[str, str], name: str, values: str = "1 or 0", fix: str = "") -> Any:
    """True or False as ``name`` says; None when it is unset."""
    raw = env.get(name, "").strip().lower()
    if raw and raw not in _ON | _OFF:
        raise ConfigError(f"{name} takes {values}, got {env[name]!r}{fix}")
    return raw in _ON if raw else None


def load_settings(environ: Mapping[str, str] | None = None) -> StoreSettings:
    """The settings from the environment (and, for this process's own environment, the config
    file's ``[store] store_url``); :class:`ConfigError` names a bad variable and its fix."""
    env = os.environ if environ is None else environ
    fix = "; unset it to record runs, or set FLOWHOOK_STORE=off to run without a store"
    enabled = _switch(env, "FLOWHOOK_STORE", "'on' or 'off'", fix) is not False
    return StoreSettings(
        home=home_directory(env),
        enabled=enabled,
        heartbeat_seconds=_number(env, "FLOWHOOK_HEARTBEAT_SECONDS", 10.0, float),
        crash_after_seconds=_number(env, "FLOWHOOK_CRASH_AFTER_SECONDS", 60.0, float),
        url=_url(env, read_file=environ is None),
        auto_migrate=_switch(env, "FLOWHOOK_STORE_AUTO_MIGRATE"),
        lock_timeout_seconds=_number(env, "FLOWHOOK_LOCK_TIMEOUT_SECONDS", 30.0, float),
        attach_timeout_seconds=_number(env, "FLOWHOOK_ATTACH_TIMEOUT_SECONDS", 2.0, float),
        run_log_limit=_number(env, "FLOWHOOK_RUN_LOG_LIMIT", 10_000, int),
        held_back_limit=_number(env, "FLOWHOOK_HELD_BACK_LIMIT", 200_000, int),
        writer=_writer(env),
    )


def _writer(env: Mapping[str, str]) -> str:
    raw = env.get("FLOWHOOK_STORE_WRITER", "").strip().lower() or "auto"
    if raw not in ("auto", "thread", "process"):
        raise ConfigError(f"FLOWHOOK_STORE_WRITER takes 'auto', 'thread' or 'process', got {raw!r}")
    return raw
