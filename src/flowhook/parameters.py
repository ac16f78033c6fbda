"""Binding call arguments to a function's signature, and coercing them to its type hints."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

import cattrs

from flowhook_hookspec.serde import converter


class ParameterValidationError(ValueError):
    """A parameter's value could not be converted to its annotated type."""


def bind_arguments(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: Mapping[str, Any], label: str
) -> inspect.BoundArguments:
    """Bind a call's arguments, defaults applied; ``TypeError`` naming ``label`` if they do not fit."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{label}: {exc}; its signature is {signature}") from None
    bound.apply_defaults()
    return bound


def resolve_type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """The function's parameter type hints; unresolvable annotations are skipped, not fatal."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    hints.pop("return", None)
    return {name: hint for name, hint in hints.items() if hint is not Any}


def _coerce(name: str, value: Any, hint: Any) -> Any:
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    try:
        return converter.structure(value, hint)
    except cattrs.errors.StructureHandlerNotFoundError:
        return value  # a type cattrs does not know: nothing to check it against
    except Exception as exc:
        details = (
            "; ".join(cattrs.transform_error(exc))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        shown = getattr(hint, "__name__", None) or str(hint)
        raise ParameterValidationError(
            f"parameter {name!r} expects {shown}, got {type(value).__name__} {value!r}: {details}"
        ) from exc


def coerce_arguments(bound: inspect.BoundArguments, hints: Mapping[str, Any]) -> None:
    """Convert each annotated argument to its type, in place; raises ParameterValidationError."""
    arguments = bound.arguments
    for name, hint in hints.items():
        if name in arguments:
            kind = bound.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL or kind is inspect.Parameter.VAR_KEYWORD:
                continue
            arguments[name] = _coerce(name, arguments[name], hint)
