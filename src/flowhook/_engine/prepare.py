"""The engine's seam for what must happen before a top-level run starts.

A module of its own so that the runtime can fill it at ``import flowhook`` without importing
the machinery of a run (:mod:`.calls`), which loads with the first run.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["preparers"]

#: Called, in order, before every top-level flow or task call, and before every flow call inside
#: one: the runtime attaches the store here. They must be cheap once done, and must not raise.
preparers: list[Callable[[], None]] = []
