"""``from flowhook.blocks.core import Block``: the notifications' ``Block``, loaded when asked for
(it brings Jinja), as ``flowhook.Block`` is."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..notifications import Block

__all__ = ["Block"]


def __getattr__(name: str) -> object:
    if name == "Block":
        from ..notifications import Block

        return Block
    raise AttributeError(f"module 'flowhook.blocks.core' has no attribute {name!r}")
