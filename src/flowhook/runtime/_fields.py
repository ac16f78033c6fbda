"""Module attributes read from the run in progress, overridable by environment variables."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

__all__ = ["read_field", "run_field"]

_CASTS: dict[type, Callable[[str], Any]] = {
    str: str,
    int: int,
    float: float,
    bool: lambda text: text.strip().lower() in {"1", "true", "yes", "on"},
    type(None): str,
}


def _same(value: Any) -> Any:
    return value


def run_field(
    run_of: Callable[[], Any], name: str, default: Any, convert: Callable[[Any], Any] = _same
) -> Callable[[], Any]:
    """A reader of the attribute ``name`` of the run ``run_of()`` returns, passed through
    ``convert``; ``default`` when there is no run."""

    def read() -> Any:
        run = run_of()
        # a copy: an empty list or dict given out must not become the next caller's default
        return convert(getattr(run, name)) if run is not None else copy.copy(default)

    read.__name__ = f"get_{name}"
    return read


def read_field(module: str, fields: dict[str, Callable[[], Any]], name: str) -> Any:
    """The value of ``name`` for ``module`` (``flow_run`` or ``task_run``).

    ``FLOWHOOK__RUNTIME__<MODULE>__<NAME>`` in the environment replaces the value (cast to the
    real value's type), as ``PREFECT__RUNTIME__...`` does in Prefect, so that code reading the
    runtime can be tested outside a run.
    """
    reader = fields.get(name)
    if reader is None:
        raise AttributeError(f"module 'flowhook.runtime.{module}' has no attribute {name!r}")
    value = reader()
    mocked = os.environ.get(f"FLOWHOOK__RUNTIME__{module.upper()}__{name.upper()}")
    if mocked is None:
        return value
    cast = _CASTS.get(type(value))
    if cast is None:
        raise ValueError(
            f"flowhook.runtime.{module}.{name} is a {type(value).__name__}, which an "
            "environment variable cannot stand for; patch the attribute in the test instead"
        )
    return cast(mocked)
