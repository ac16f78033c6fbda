"""Result serializers, where Prefect users import them: ``from flowhook.serializers import ...``.

Any of them is a ``result_serializer=``; :class:`CompressedSerializer` compresses what another
one writes.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._engine.results import (
    JSONSerializer,
    PickleSerializer,
    Serializer,
    resolve_serializer,
)

__all__ = [
    "CompressedJSONSerializer",
    "CompressedPickleSerializer",
    "CompressedSerializer",
    "JSONSerializer",
    "PickleSerializer",
    "Serializer",
]

_COMPRESSION_LIBRARIES = ("lzma", "zlib", "bz2")


class CompressedSerializer:
    """``serializer`` (``"pickle"``, ``"json"`` or a serializer object), its bytes compressed by
    ``compressionlib``, a standard library module: ``"lzma"`` (the default), ``"zlib"`` or
    ``"bz2"``."""

    def __init__(
        self, serializer: str | Serializer = "pickle", compressionlib: str = "lzma"
    ) -> None:
        if compressionlib not in _COMPRESSION_LIBRARIES:
            raise ValueError(
                f"compressionlib takes one of {', '.join(_COMPRESSION_LIBRARIES)}, "
                f"got {compressionlib!r}"
            )
        self.serializer = resolve_serializer(serializer)
        self.compressionlib = compressionlib
        self.name = f"compressed/{compressionlib}/{self.serializer.name}"

    def _library(self) -> Any:
        return importlib.import_module(self.compressionlib)

    def dumps(self, value: Any) -> bytes:
        data: bytes = self._library().compress(self.serializer.dumps(value))
        return data

    def loads(self, data: bytes) -> Any:
        return self.serializer.loads(self._library().decompress(data))

    def __repr__(self) -> str:
        return f"CompressedSerializer({self.serializer!r}, compressionlib={self.compressionlib!r})"


class CompressedPickleSerializer(CompressedSerializer):
    """Pickle, compressed: ``CompressedSerializer("pickle", compressionlib)``."""

    def __init__(self, compressionlib: str = "lzma") -> None:
        super().__init__("pickle", compressionlib)


class CompressedJSONSerializer(CompressedSerializer):
    """JSON, compressed: ``CompressedSerializer("json", compressionlib)``."""

    def __init__(self, compressionlib: str = "lzma") -> None:
        super().__init__("json", compressionlib)
