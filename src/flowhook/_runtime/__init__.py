"""The runtime: the glue between the engine, the store and the notifications.

It attaches the recorder to the engine's observers (and, with it, the capture of run logs),
routes notification rules to the outbox,
reaps the runs of dead processes through the engine's transition API, and starts all of it:
:func:`install` (called once, by ``import flowhook``) gives the engine the function that
attaches the store before the first run. Nothing below this layer imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._engine.prepare import preparers
from .._engine.result_home import set_default_directory

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["install"]


def _attach_first() -> None:
    # Imported on the first run, not at ``import flowhook``: the store, the notifications and
    # Jinja are not needed before then. Then the real function takes this one's place.
    from .attach import attach

    preparers[preparers.index(_attach_first)] = attach
    attach()


_installed = False


def install() -> None:
    """Attach the store before every top-level run (once attached, a check of two variables)."""
    global _installed
    if not _installed:
        _installed = True
        preparers.append(_attach_first)
        set_default_directory(_result_directory)


def _result_directory() -> Path:
    from .._config import home_directory  # on first use: the config module loads tomllib

    return home_directory() / "results"
