"""Stable hashes of Python values, for cache keys.

A value is hashed by its JSON when it is plain JSON data (``dict`` with ``str`` keys, ``list``,
``str``, ``int``, ``float``, ``bool``, ``None``, of exactly those types), else by its cloudpickle
bytes, else not at all. It is never hashed by ``repr()``: the ``repr`` of an ordinary object is
its memory address, which a later object can reuse, so two different inputs would share a key
and the second would be served the first one's result.

The check for plain data is stricter than ``json.dumps``: a tuple, an ``int`` enum or a dict with
``int`` keys would be written as the same JSON as a list, an ``int`` or a dict with ``str`` keys,
so they go to cloudpickle, which tells them apart. The two encodings carry different prefixes,
so a JSON text never hashes like a pickle.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HashError", "hash_objects", "hash_text"]

_SCALARS = (str, int, float, bool, type(None))


class HashError(ValueError):
    """A value could be hashed neither as JSON nor with cloudpickle (a lock, an open file...)."""


def hash_text(*parts: str) -> str:
    """A hash of strings, as a 32-character hex digest."""
    import hashlib  # here, not at import: most programs never make a cache key

    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def hash_objects(*args: Any, raise_on_failure: bool = False, **kwargs: Any) -> str | None:
    """A stable hash of ``args`` and ``kwargs``, or None when they cannot be hashed.

    With ``raise_on_failure=True`` an unhashable value raises :class:`HashError` saying why
    (both the JSON and the pickle error), instead of returning None.
    """
    import hashlib

    payload = [list(args), kwargs]
    if _is_plain(payload):
        import json

        data = b"json\0" + json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(data).hexdigest()[:32]
    try:
        import cloudpickle  # type: ignore[import-untyped]

        pickled = cloudpickle.dumps((args, kwargs))
    except Exception as exc:
        if raise_on_failure:
            raise HashError(
                "the value cannot be hashed: it is not plain JSON data, and cloudpickle "
                f"cannot serialize it ({type(exc).__name__}: {exc})"
            ) from exc
        return None
    return hashlib.sha256(b"pickle\0" + pickled).hexdigest()[:32]


def _is_plain(value: Any) -> bool:
    """Whether ``value`` is JSON data that no other Python value would write the same way."""
    try:
        return _plain(value)
    except RecursionError:  # a list that holds itself: cloudpickle can take cycles
        return False


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is dict:
        return all(type(key) is str and _plain(item) for key, item in value.items())
    return False
