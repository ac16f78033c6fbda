"""The store's settings, read from ``FLOWHOOK_*`` environment variables.

| variable | default | meaning |
|---|---|---|
| ``FLOWHOOK_HOME`` | ``~/.flowhook`` | directory of the database ``flowhook.db`` |
| ``FLOWHOOK_STORE`` | ``on`` | ``off`` runs flows without recording them |
| ``FLOWHOOK_HEARTBEAT_SECONDS`` | ``10`` | how often a process running flows says it is alive |
| ``FLOWHOOK_CRASH_AFTER_SECONDS`` | ``60`` | silence after which a process on another host is dead |
| ``FLOWHOOK_LOCK_TIMEOUT_SECONDS`` | ``30`` | how long a write waits while another process holds the database |
| ``FLOWHOOK_ATTACH_TIMEOUT_SECONDS`` | ``2`` | how long a process's first run waits for the store before it goes on unrecorded |
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from flowhook_hookspec.errors import ConfigError

from .._config import home_directory

__all__ = ["DATABASE_NAME", "StoreSettings", "home_directory", "load_settings"]

DATABASE_NAME = "flowhook.db"

_ON = {"1", "on", "true", "yes", "sqlite"}
_OFF = {"0", "off", "false", "no", "none"}


@attrs.frozen
class StoreSettings:
    """Where the store lives and how crash detection is timed."""

    home: Path
    enabled: bool = True
    heartbeat_seconds: float = 10.0
    crash_after_seconds: float = 60.0
    #: How long a write keeps retrying while other processes hold the database lock.
    lock_timeout_seconds: float = 30.0
    #: How long opening the store and registering the process may hold up a run; a store that
    #: is not usable by then is tried again at the next run.
    attach_timeout_seconds: float = 2.0

    @property
    def database(self) -> Path:
        return self.home / DATABASE_NAME


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"{name} takes a number of seconds > 0, e.g. {name}={default:g}; got {raw!r}"
        )
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> StoreSettings:
    """The settings from the environment; :class:`ConfigError` names a bad variable and its fix."""
    env = os.environ if environ is None else environ
    switch = env.get("FLOWHOOK_STORE", "").strip().lower()
    if switch and switch not in _ON | _OFF:
        raise ConfigError(
            f"FLOWHOOK_STORE takes 'on' or 'off', got {env['FLOWHOOK_STORE']!r}; "
            "unset it to record runs, or set FLOWHOOK_STORE=off to run without a store"
        )
    return StoreSettings(
        home=home_directory(env),
        enabled=switch not in _OFF,
        heartbeat_seconds=_seconds(env, "FLOWHOOK_HEARTBEAT_SECONDS", 10.0),
        crash_after_seconds=_seconds(env, "FLOWHOOK_CRASH_AFTER_SECONDS", 60.0),
        lock_timeout_seconds=_seconds(env, "FLOWHOOK_LOCK_TIMEOUT_SECONDS", 30.0),
        attach_timeout_seconds=_seconds(env, "FLOWHOOK_ATTACH_TIMEOUT_SECONDS", 2.0),
    )
