"""flowhook's configuration file: where it is, and its structure.

The file is the one ``FLOWHOOK_CONFIG`` names; otherwise the nearest ``flowhook.toml``, or
``pyproject.toml`` with a ``[tool.flowhook]`` table, in the current directory or one of its
parents (the search stops at a repository root, a directory holding ``.git``, and at the root of
the filesystem); otherwise ``$FLOWHOOK_HOME/flowhook.toml``, a user-wide default. In one
directory ``flowhook.toml`` wins over ``pyproject.toml``. No file is fine: everything has a
default. The content is structured by cattrs into the attrs classes below, and
every mistake is a :class:`~flowhook_hookspec.errors.ConfigError` that names the file and the key.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from flowhook_hookspec.errors import ConfigError

__all__ = [
    "Config",
    "EnvValue",
    "NotificationRuleConfig",
    "StoreConfig",
    "config_source",
    "did_you_mean",
    "home_directory",
    "load_config",
    "store_url_from_file",
]


@attrs.frozen
class EnvValue:
    """A value read from an environment variable when the config is used: ``{ env = "NAME" }``."""

    env: str


@attrs.frozen
class NotificationRuleConfig:
    """One ``[[notifications]]`` rule, as written in the file."""

    on: tuple[str, ...]
    blocks: tuple[str, ...]
    flows: tuple[str, ...] | None = None
    tasks: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()
    subject: str | None = None
    body: str | None = None


@attrs.frozen
class StoreConfig:
    """The ``[store]`` table: ``store_url = "postgresql://..."`` selects the PostgreSQL store
    (``FLOWHOOK_STORE_URL`` wins over it)."""

    store_url: str | None = None


@attrs.frozen
class Config:
    """The whole configuration. ``source`` is the file it came from, if any."""

    notifications: tuple[NotificationRuleConfig, ...] = ()
    blocks: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    store: StoreConfig = attrs.field(factory=StoreConfig)
    source: str | None = None


def _converter() -> Any:
    """The config converter, built on first use (cattrs is slow to import)."""
    global _CONVERTER
    if _CONVERTER is None:
        import cattrs

        def string_list(value: Any, _: type) -> tuple[str, ...]:
            # A lone string would otherwise be split into its characters.
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise TypeError(f'expected a list of strings, e.g. ["Failed"], got {value!r}')
            return tuple(value)

        converter = cattrs.Converter(forbid_extra_keys=True)
        converter.register_structure_hook_func(lambda cls: cls == tuple[str, ...], string_list)
        _CONVERTER = converter
    return _CONVERTER


_CONVERTER: Any = None


def config_source(cwd: Path | None = None) -> tuple[Path, tuple[str, ...]] | None:
    """The config file and the table path inside it, or None when there is none."""
    named = os.environ.get("FLOWHOOK_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"FLOWHOOK_CONFIG names {path}, which is not a file; fix the path or unset it"
            )
        return path, ()
    here = (cwd or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "flowhook.toml").is_file():
            return directory / "flowhook.toml", ()
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _read_table(pyproject, _PYPROJECT_TABLE) is not None:
            return pyproject, _PYPROJECT_TABLE
        if (directory / ".git").exists():
            break  # a repository root: what lies above belongs to another project
    user_wide = home_directory() / "flowhook.toml"
    if user_wide.is_file():
        return user_wide, ()
    return None


_PYPROJECT_TABLE = ("tool", "flowhook")


def home_directory(environ: Mapping[str, str] | None = None) -> Path:
    """``$FLOWHOOK_HOME``, or ``~/.flowhook``: the store's directory, and the user-wide config's."""
    env = os.environ if environ is None else environ
    return Path(env.get("FLOWHOOK_HOME") or "~/.flowhook").expanduser()


def _read_table(path: Path, table: tuple[str, ...]) -> dict[str, Any] | None:
    # Imported here, when there is a file to read: ``flowhook runs ls`` usually has none.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        data: Any = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: is not valid TOML: {exc}") from None
    for key in table:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [{'.'.join(table)}] must be a table")
    return data


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'Failed'?"`` for the closest of ``choices``, or nothing."""
    import difflib  # only on the error path

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _format_exception(exc: BaseException, type_: type | None) -> str:
    from cattrs.errors import ForbiddenExtraKeysError
    from cattrs.v import format_exception

    if isinstance(exc, TypeError) and str(exc).startswith("expected a list of strings"):
        return str(exc)
    if isinstance(exc, ForbiddenExtraKeysError) and attrs.has(exc.cl):
        keys = [field.name for field in attrs.fields(exc.cl) if field.name != "source"]
        return "; ".join(
            f"unknown key {extra!r}{did_you_mean(extra, keys) or ''} (keys: {', '.join(keys)})"
            for extra in sorted(exc.extra_fields)
        )
    return format_exception(exc, type_)


def _describe(error: Exception) -> str:
    import cattrs

    if isinstance(error, cattrs.BaseValidationError):
        return "; ".join(
            message.replace("@ $.", "at ").replace("@ $", "at the top level")
            for message in cattrs.transform_error(error, format_exception=_format_exception)
        )
    return str(error)


def load_config(cwd: Path | None = None) -> Config:
    """Read and structure the configuration (see the module docs)."""
    found = config_source(cwd)
    if found is None:
        return Config()
    path, table = found
    data = _read_table(path, table)
    if data is None:
        return Config(source=str(path))
    where = f"{path}" + (f" [{'.'.join(table)}]" if table else "")
    data = dict(data)
    data.pop("source", None)
    try:
        config: Config = _converter().structure(data, Config)
    except Exception as exc:
        raise ConfigError(f"{where}: {_describe(exc)}") from None
    return attrs.evolve(config, source=where)


def store_url_from_file() -> tuple[str, str] | None:
    """``store_url`` of the config file's ``[store]`` table and where it was read, if any.

    Read alone, without structuring the rest of the file: a mistake in a notification rule
    must not stop runs from being recorded (``flowhook config check`` reports it).
    """
    found = config_source()
    if found is None:
        return None
    path, table = found
    data = _read_table(path, (*table, "store"))
    if data is None or data.get("store_url") is None:
        return None
    url = data["store_url"]
    where = f"{path} [{'.'.join((*table, 'store'))}] store_url"
    if not isinstance(url, str):
        raise ConfigError(f'{where} must be a string, e.g. "postgresql://host/flowhook"')
    return url, where


def resolve_value(value: Any, where: str) -> Any:
    """A config value with ``{ env = "NAME" }`` replaced by that variable's value."""
    if isinstance(value, dict) and set(value) == {"env"}:
        name = value["env"]
        if name not in os.environ:
            raise ConfigError(
                f"{where} takes its value from the environment variable {name}, which is not set"
            )
        return os.environ[name]
    return value
