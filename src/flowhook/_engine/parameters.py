"""Binding call arguments to a function's signature, and coercing them to its type hints."""

from __future__ import annotations

import datetime
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flowhook_hookspec.errors import FlowhookError
from flowhook_hookspec.lazy import defer_modules

if TYPE_CHECKING:
    from flowhook_hookspec import states
else:  # the states load with the first run, not with ``@flow``
    defer_modules(globals(), "flowhook_hookspec.states")


class ParameterTypeError(FlowhookError, ValueError):
    """A parameter's value could not be converted to its annotated type (Prefect's name)."""


class ParameterBindError(FlowhookError, TypeError):
    """A call's arguments do not fit the function's signature (Prefect's name)."""


_lax_converter: Any = None


def _converter() -> Any:
    """The parameters' converter: the contract's, with pydantic's lax rules for scalars."""
    global _lax_converter
    if _lax_converter is None:
        from flowhook_hookspec.serde import converter

        from .lax import LAX_SCALARS

        lax = converter.copy()
        for type_, hook in LAX_SCALARS.items():
            lax.register_structure_hook(type_, hook)
        _lax_converter = lax
    return _lax_converter


def positional_names(signature: inspect.Signature) -> tuple[str, ...] | None:
    """The parameter names when every parameter is positional-or-keyword without a default:
    calls that pass exactly that many positional arguments can then be bound by zipping."""
    names = []
    for parameter in signature.parameters.values():
        if (
            parameter.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD
            or parameter.default is not inspect.Parameter.empty
        ):
            return None
        names.append(parameter.name)
    return tuple(names)


def bind_arguments(
    signature: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    label: str,
    simple: tuple[str, ...] | None = None,
) -> inspect.BoundArguments:
    """Bind a call's arguments, defaults applied; ``TypeError`` naming ``label`` if they do not fit.

    ``simple`` is :func:`positional_names` of the signature, for the fast path of every task
    call that passes its arguments positionally (the common case, on the hot path).
    """
    if simple is not None and not kwargs and len(args) == len(simple):
        # ``inspect.BoundArguments(signature, arguments)``, built through its two slots'
        # setters without a call of its Python ``__init__`` (which sets just these two).
        bound = _new_bound(inspect.BoundArguments)
        # Not zip(strict=True): the lengths are equal, and its keyword costs 0.15 us a call.
        _set_arguments(bound, dict(zip(simple, args)))  # noqa: B905
        _set_signature(bound, signature)
        return bound
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise ParameterBindError(f"{label}: {exc}; its signature is {signature}") from None
    bound.apply_defaults()
    return bound


_new_bound = object.__new__
_set_arguments = inspect.BoundArguments.__dict__["arguments"].__set__
_set_signature = inspect.BoundArguments.__dict__["_signature"].__set__


def call_bound(
    fn: Callable[..., Any], bound: inspect.BoundArguments, simple: tuple[str, ...] | None
) -> Any:
    """Call ``fn`` with the arguments of ``bound``.

    ``simple`` is :func:`positional_names` of the signature: then every argument is bound, in
    the signature's order, and passing the values positionally is the call ``bound.args`` would
    make, without walking the signature (on the hot path of every task run).
    """
    if simple is not None:
        return fn(*bound.arguments.values())
    return fn(*bound.args, **bound.kwargs)


def split_bound(
    bound: inspect.BoundArguments, simple: tuple[str, ...] | None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The ``(args, kwargs)`` that :func:`call_bound` would pass, to make the call elsewhere."""
    if simple is not None:
        return tuple(bound.arguments.values()), {}
    return tuple(bound.args), dict(bound.kwargs)


def resolve_type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """The function's parameter type hints; unresolvable annotations are skipped, not fatal."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    hints.pop("return", None)
    return {name: hint for name, hint in hints.items() if hint is not Any}


def _coerce(name: str, value: Any, hint: Any) -> Any:
    if type(value) is hint:  # the hot path: the annotated type itself
        return value
    if type(hint) is type and hint not in _LAX_TYPES and isinstance(value, hint):
        return value  # an instance of a class of the user's, or a subclass
    import cattrs  # imported when a value first needs converting: cattrs is slow to import

    try:
        return _converter().structure(value, hint)
    except cattrs.errors.StructureHandlerNotFoundError:
        return value  # a type cattrs does not know: nothing to check it against
    except Exception as exc:
        details = (
            "; ".join(m.replace(" @ $", " at ") for m in cattrs.transform_error(exc))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        shown = str(hint) if typing.get_args(hint) else getattr(hint, "__name__", str(hint))
        raise ParameterTypeError(
            f"parameter {name!r} expects {shown}, got {type(value).__name__} {value!r}: {details}"
        ) from exc


#: The scalar types whose values pydantic's lax rules may change even for an instance (True
#: given for an int is 1, a datetime given for a date its date).
_LAX_TYPES = frozenset({bool, int, float, str, datetime.date, datetime.datetime})


def _holds_remote(value: Any) -> bool:
    if isinstance(value, states.RemoteResult):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_remote(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_remote(item) for item in value.values())
    return False


def coercions(
    signature: inspect.Signature, hints: Mapping[str, Any]
) -> tuple[tuple[str, Any], ...]:
    """The ``(name, hint)`` pairs :func:`convert_arguments` applies: the annotated parameters,
    ``*args`` and ``**kwargs`` excepted (computed once per flow or task)."""
    parameters = signature.parameters
    return tuple(
        (name, hint)
        for name, hint in hints.items()
        if name in parameters and parameters[name].kind not in _VARIADIC
    )


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def convert_arguments(arguments: dict[str, Any], pairs: tuple[tuple[str, Any], ...]) -> None:
    """Convert each argument of :func:`coercions` ``pairs`` to its type, in place; raises
    ParameterTypeError.

    An argument holding an upstream result left on a cluster
    (:class:`~flowhook_hookspec.states.RemoteResult`) is left as it is: its value is not here.
    """
    for name, hint in pairs:
        if name in arguments:
            value = arguments[name]
            # A value of the annotated type itself stays as it is, as _coerce would leave it.
            if type(value) is not hint and not _holds_remote(value):
                arguments[name] = _coerce(name, value, hint)


def coerce_arguments(bound: inspect.BoundArguments, hints: Mapping[str, Any]) -> None:
    """Convert each annotated argument of ``bound`` to its type, in place (see
    :func:`convert_arguments`); raises ParameterTypeError."""
    convert_arguments(bound.arguments, coercions(bound.signature, hints))
