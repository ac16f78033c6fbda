"""The secret fields of saved blocks, kept out of the database in a file of their own.

``$FLOWHOOK_HOME/secrets.json``, mode 0600 in a directory of mode 0700, holds one object per
block (``{"blocks": {"slack-webhook/ops": {"url": "https://..."}}}``); the database keeps the
other fields only. So the run history can be copied, backed up, attached to a bug report or
read by a tool without carrying a credential, and the one file that does is as protected as
``~/.netrc``. This protects against other users of the machine and against leaks of the
database; not against the same user, root, or a backup of the whole home directory (see
docs/notifications.md, "Secrets at rest").

Writes replace the file atomically under an exclusive lock (``secrets.json.lock``), so that two
processes saving blocks at once lose neither.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flowhook_hookspec.errors import NotificationError

from .._config import home_directory

__all__ = ["SECRETS_FILE_NAME", "delete_secrets", "load_secrets", "save_secrets", "secrets_path"]

SECRETS_FILE_NAME = "secrets.json"


class SecretsFileError(NotificationError):
    """The secrets file cannot be read or written, or others can read it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


def secrets_path() -> Path:
    """Where the saved blocks' secrets are: ``$FLOWHOOK_HOME/secrets.json``."""
    return home_directory() / SECRETS_FILE_NAME


def load_secrets(block: str) -> dict[str, str]:
    """The secret fields saved for ``block`` (``type/name``); empty when there are none."""
    found = _read(secrets_path()).get(block, {})
    return dict(found) if isinstance(found, dict) else {}


def save_secrets(block: str, values: dict[str, str]) -> None:
    """Keep ``values`` as the secret fields of ``block`` (none: forget the block's)."""
    with _changing() as blocks:
        if values:
            blocks[block] = dict(values)
        else:
            blocks.pop(block, None)


def delete_secrets(block: str) -> None:
    """Forget the secret fields of ``block``."""
    if secrets_path().exists():
        save_secrets(block, {})


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            _refuse_shared(path, os.fstat(file.fileno()))
            data = json.loads(file.read())
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SecretsFileError(f"cannot read the secrets file {path}: {exc.strerror}") from None
    except ValueError:
        raise SecretsFileError(
            f"the secrets file {path} is not valid JSON; restore it from a backup, or move it "
            "away and save the blocks again"
        ) from None
    blocks = data.get("blocks") if isinstance(data, dict) else None
    if not isinstance(blocks, dict):
        raise SecretsFileError(f"the secrets file {path} has no 'blocks' object")
    return blocks


def _refuse_shared(path: Path, status: os.stat_result) -> None:
    if os.name == "posix" and status.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsFileError(
            f"the secrets file {path} can be read by other users (mode "
            f"{stat.S_IMODE(status.st_mode):o}); run: chmod 600 {path}"
        )


@contextlib.contextmanager
def _changing() -> Iterator[dict[str, Any]]:
    """The blocks' secrets to change in place; written back atomically, under the lock."""
    path = secrets_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(path.with_name(path.name + ".lock")):
        blocks = _read(path)
        yield blocks
        _write(path, {"version": 1, "blocks": blocks})


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # not POSIX: one writer at a time is up to the user
            yield
            return
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _write(path: Path, data: dict[str, Any]) -> None:
    from .._files import write_atomically  # a temporary file of mode 0600, fsynced, renamed

    text = json.dumps(data, indent=2, sort_keys=True)
    write_atomically(path, text.encode("utf-8"), prefix=".secrets-")
