"""Results: how a task run's return value is serialized, and where its record is kept.

A *record* is one file (or object) per key: a line of JSON metadata (the serializer, when the
record was written, when it expires), then the serialized value. It is written whole or not at
all, so a reader sees either the old record or the new one, never a mix, however many processes
write the same key at once.

:class:`ResultStorage` is the protocol a storage implements; :class:`LocalFileSystem` is the
default, a directory under ``$FLOWHOOK_HOME/results``. A plugin distribution adds S3 and
friends by shipping a class with the same three methods and users pass an instance as
``result_storage=``.
"""

from __future__ import annotations

# json, pathlib and the atomic writer are imported where they are used: ``import flowhook`` must not pay
# for them when no task keeps a result.
import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from flowhook_hookspec.errors import SerializationError

if TYPE_CHECKING:
    from pathlib import Path

#: What ``flowhook.results`` makes public; the engine imports the rest by name.
__all__ = [
    "JSONSerializer",
    "LocalFileSystem",
    "PickleSerializer",
    "ResultRecord",
    "ResultStorage",
    "Serializer",
]


class Serializer(Protocol):
    """Turns a value into bytes and back. ``name`` is written into each record."""

    name: str

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class PickleSerializer:
    """cloudpickle: any Python value, lambdas and local classes included (Python to Python only)."""

    name = "pickle"

    def dumps(self, value: Any) -> bytes:
        import cloudpickle  # type: ignore[import-untyped]  # on first use, not at import flowhook

        try:
            data: bytes = cloudpickle.dumps(value)
        except Exception as exc:
            raise SerializationError(
                f"result_serializer='pickle' cannot serialize the result ({type(exc).__name__}: "
                f"{exc}); return a value that can be pickled, or do not persist this result"
            ) from exc
        return data

    def loads(self, data: bytes) -> Any:
        import pickle

        return pickle.loads(data)

    def __repr__(self) -> str:
        return "PickleSerializer()"


class JSONSerializer:
    """JSON: readable by any language; values must be JSON types (dict, list, str, numbers...)."""

    name = "json"

    def dumps(self, value: Any) -> bytes:
        import json

        try:
            return json.dumps(value).encode()
        except (TypeError, ValueError) as exc:
            raise SerializationError(
                f"result_serializer='json' cannot serialize the result ({exc}); return JSON "
                "types or use result_serializer='pickle'"
            ) from None

    def loads(self, data: bytes) -> Any:
        import json

        return json.loads(data)

    def __repr__(self) -> str:
        return "JSONSerializer()"


_SERIALIZERS: dict[str, Callable[[], Serializer]] = {
    "pickle": PickleSerializer,
    "json": JSONSerializer,
}


def resolve_serializer(value: str | Serializer | None) -> Serializer:
    """The serializer named ``"pickle"`` (the default) or ``"json"``, or the one given."""
    if value is None:
        return PickleSerializer()
    if isinstance(value, str):
        try:
            return _SERIALIZERS[value]()
        except KeyError:
            raise ValueError(
                f"result_serializer takes 'pickle' or 'json' (or an object with dumps/loads), "
                f"got {value!r}"
            ) from None
    if not (callable(getattr(value, "dumps", None)) and callable(getattr(value, "loads", None))):
        raise TypeError(
            f"result_serializer takes 'pickle', 'json' or an object with dumps() and loads(), "
            f"got {type(value).__name__}"
        )
    return value


@runtime_checkable
class ResultStorage(Protocol):
    """Where records live. Keys are short strings of ``[A-Za-z0-9_.-]``.

    ``write`` must be atomic: a concurrent ``read`` returns the old bytes or the new ones.
    """

    def read(self, key: str) -> bytes | None:
        """The record's bytes, or None when there is none."""
        ...

    def write(self, key: str, data: bytes) -> None:
        """Store the record, replacing any other, atomically."""
        ...

    def delete(self, key: str) -> None:
        """Remove the record if there is one."""
        ...


def _check_key(key: str) -> str:
    if not key or key in {".", ".."} or any(c in key for c in "/\\\0"):
        raise ValueError(
            f"a result key must be a non-empty name without '/', '\\' or NUL, got {key!r}"
        )
    return key


def _to_path(value: str | os.PathLike[str]) -> Path:
    from pathlib import Path

    return Path(value).expanduser()


@attrs.define
class LocalFileSystem:
    """Records as files in ``basepath`` (created on the first write)."""

    basepath: Path = attrs.field(converter=_to_path)

    def _path(self, key: str) -> Path:
        return self.basepath / _check_key(key)

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes) -> None:
        from .._files import write_atomically

        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data, prefix=f".{key}.", suffix=".tmp")

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive lock on ``key`` across processes (``IsolationLevel.SERIALIZABLE``)."""
        import fcntl

        lock_path = self.basepath / f".{_check_key(key)}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+b") as file:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)


def resolve_storage(value: ResultStorage | str | os.PathLike[str] | None) -> ResultStorage | None:
    """``result_storage=``: a storage object, or a directory path; None means the default."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return LocalFileSystem(value)
    if not isinstance(value, ResultStorage):
        raise TypeError(
            "result_storage takes a directory path or an object with read(key), write(key, "
            f"data) and delete(key), got {type(value).__name__}"
        )
    return value


@attrs.frozen
class ResultRecord:
    """A value as stored: its serializer's name, when it was written and when it expires."""

    value: Any
    serializer: str
    created: datetime
    expiration: datetime | None = None

    def is_expired(self, at: datetime | None = None) -> bool:
        return self.expiration is not None and (at or datetime.now(timezone.utc)) >= self.expiration

    def to_bytes(self, serializer: Serializer) -> bytes:
        import json

        header = {
            "serializer": serializer.name,
            "created": self.created.isoformat(),
            "expiration": None if self.expiration is None else self.expiration.isoformat(),
        }
        return json.dumps(header).encode() + b"\n" + serializer.dumps(self.value)

    @classmethod
    def from_bytes(cls, data: bytes, serializer: Serializer) -> ResultRecord:
        import json

        head, _, payload = data.partition(b"\n")
        header = json.loads(head)
        if header["serializer"] != serializer.name:
            serializer = resolve_serializer(header["serializer"])
        expiration = header.get("expiration")
        return cls(
            value=serializer.loads(payload),
            serializer=header["serializer"],
            created=datetime.fromisoformat(header["created"]),
            expiration=None if expiration is None else datetime.fromisoformat(expiration),
        )

    @classmethod
    def new(cls, value: Any, serializer: Serializer, lifetime: timedelta | None) -> ResultRecord:
        created = datetime.now(timezone.utc)
        return cls(
            value, serializer.name, created, None if lifetime is None else created + lifetime
        )


def read_record(storage: ResultStorage, key: str, serializer: Serializer) -> ResultRecord | None:
    """The record of ``key``, or None when there is none or it cannot be read (a cache miss)."""
    data = storage.read(key)
    if data is None:
        return None
    try:
        return ResultRecord.from_bytes(data, serializer)
    except Exception:
        return None
