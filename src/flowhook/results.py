"""Result storage and serializers: ``result_storage=LocalFileSystem(...)``, a storage protocol for plugins."""

from ._engine import (
    JSONSerializer,
    LocalFileSystem,
    PickleSerializer,
    ResultRecord,
    ResultStorage,
    Serializer,
)

__all__ = [
    "JSONSerializer",
    "LocalFileSystem",
    "PickleSerializer",
    "ResultRecord",
    "ResultStorage",
    "Serializer",
]
