"""``tags(...)``: tags added to every flow and task run created inside the ``with`` block."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import attrs

__all__ = ["TagsContext", "run_tags", "tags"]


@attrs.frozen
class TagsContext:
    """The tags in force here (Prefect's ``prefect.context.TagsContext``)."""

    current_tags: frozenset[str] = frozenset()

    @classmethod
    def get(cls) -> TagsContext:
        """The tags in force; an empty context outside any ``with tags(...)`` block."""
        return _current.get() or _EMPTY


_EMPTY = TagsContext()
_current: contextvars.ContextVar[TagsContext | None] = contextvars.ContextVar(
    "flowhook_tags", default=None
)


@contextlib.contextmanager
def tags(*new_tags: str) -> Iterator[set[str]]:
    """Add ``new_tags`` to the runs created in the block; blocks nest, adding up their tags.

    Yields the set of tags in force inside the block.
    """
    for tag in new_tags:
        if not isinstance(tag, str):
            raise TypeError(f"tags(...) takes strings, e.g. tags('prod'), got {tag!r}")
    in_force = TagsContext.get().current_tags.union(new_tags)
    token = _current.set(TagsContext(in_force))
    try:
        yield set(in_force)
    finally:
        _current.reset(token)


def run_tags(own: tuple[str, ...]) -> tuple[str, ...]:
    """A new run's tags: its flow's or task's own, then those of the enclosing ``tags`` blocks."""
    context = _current.get()
    if context is None:
        return own
    return own + tuple(sorted(context.current_tags.difference(own)))
