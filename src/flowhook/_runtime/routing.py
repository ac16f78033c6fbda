"""Routing notification rules to the outbox: the rules of this process, against the saved blocks."""

from __future__ import annotations

import logging
from typing import Any

from ..notifications import Router, load_router

__all__ = ["load_router_of"]

logger = logging.getLogger("flowhook.store")


def load_router_of(store: Any) -> Router:
    """The notification rules, checked against the blocks saved in ``store``.

    A store that cannot list its blocks is logged; the rules are then checked against the
    blocks declared in the config file only.
    """
    try:
        saved = store.list_blocks()
    except Exception as exc:
        logger.error("could not read the saved blocks in %s: %s", store.location, exc)
        saved = []
    return load_router(saved)
