"""The writer process died: its frames not known written are written again by the flow's process."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from ..store import BatchKey, BatchWriter, Store
from .writer_wire import FRAME_KEYS, frame_writes

__all__ = ["Frame", "write_again"]

#: A frame shipped and not yet known written: its number, its message as shipped (see
#: :func:`.writer_wire.frame_data`), how many writes it holds.
Frame = tuple[int, bytes, int]


def write_again(
    store: Store,
    process_id: int,
    frames: list[Frame],
    fallback: BatchWriter,
    release: Callable[[int], None],
) -> None:
    """Write ``frames`` in order, each with the key the child would have given a batch ending
    with it (the store skips a frame the child committed), and ``release`` each one's waiters.
    From the first that fails on, ``fallback`` (a thread writer) holds, retries or splits them."""
    for index, (frame, data, _) in enumerate(frames):
        try:
            store.write([*frame_writes(data), BatchKey(process_id, frame * FRAME_KEYS)])
        except Exception:
            for later, rest, _ in frames[index:]:
                fallback.submit_then(
                    tuple(frame_writes(rest)), partial(release, later), number=0, now=False
                )
            return
        release(frame)
