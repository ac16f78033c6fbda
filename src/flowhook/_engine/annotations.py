"""Prefect's annotations: values wrapped to tell the engine how to treat them (``unmapped``,
``allow_failure``, ``opaque``, ``quote``); the task receives the value itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["BaseAnnotation", "allow_failure", "opaque", "quote", "unmapped"]


class BaseAnnotation(tuple[Any]):
    """A value wrapped to tell the engine how to treat it (Prefect's annotations); the task
    receives the value itself. A tuple of one item, so that tools can unpack it."""

    __slots__ = ()

    def __new__(cls, value: Any) -> Self:
        return super().__new__(cls, (value,))

    @property
    def value(self) -> Any:
        """The wrapped value."""
        return self[0]

    def unwrap(self) -> Any:
        """The wrapped value."""
        return self[0]

    def rewrap(self, value: Any) -> Self:
        """The same annotation around another value."""
        return type(self)(value)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return tuple.__hash__(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self[0]!r})"


class unmapped(BaseAnnotation):
    """Marks an argument of ``Task.map`` to pass whole to every call instead of iterating it."""

    __slots__ = ()

    def __getitem__(self, _: object) -> Any:
        return tuple.__getitem__(self, 0)  # every index: the same value, for every mapped call


class allow_failure(BaseAnnotation):
    """Wraps a future (or a structure of them) whose run may fail without stopping the task:
    the task runs anyway and receives the exception of a failed upstream run as the value."""

    __slots__ = ()


class opaque(BaseAnnotation):
    """Wraps a future whose result the task receives without the engine looking inside that
    result (or inside a value that is not a future) for other futures."""

    __slots__ = ()


class quote(BaseAnnotation):
    """Wraps a value the engine passes on as it is, without looking inside it for futures."""

    __slots__ = ()

    def unquote(self) -> Any:
        """The wrapped value."""
        return self[0]
