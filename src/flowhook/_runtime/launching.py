"""Starting a flow from outside Python: the flow found, its parameters checked before its run.

The command line names a flow by text and gives its parameters as text or JSON. What it needs
of the engine is here: whether an object is a flow, and :func:`flow_arguments`, which binds the
given values to the flow's signature and converts each one as the flow's own call does (the lax
rules of its parameter validation: ``"3"`` for ``n: int`` is 3), so that bad values are refused
before a run is created at all. A flow made with ``validate_parameters=False`` gets the values as
given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from .._engine import Flow, bind_arguments, coerce_arguments

__all__ = ["Flow", "flow_arguments", "is_flow"]


def is_flow(value: object) -> TypeGuard[Flow[..., Any]]:
    """Whether ``value`` is a flow (a function decorated with ``@flow``)."""
    return isinstance(value, Flow)


def flow_arguments(
    flow: Flow[..., Any], given: Mapping[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` to call ``flow`` with: ``given`` bound to its signature by name,
    defaults applied, every annotated value converted to its type.

    Raises :class:`~flowhook.exceptions.ParameterBindError` when the names do not fit the
    signature, :class:`~flowhook.exceptions.ParameterTypeError` for a value that does not
    convert.
    """
    bound = bind_arguments(flow.signature, (), given, f"flow {flow.name!r}")
    if flow.validate_parameters and flow.type_hints:
        coerce_arguments(bound, flow.type_hints)
    return tuple(bound.args), dict(bound.kwargs)
