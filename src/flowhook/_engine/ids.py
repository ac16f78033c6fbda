"""Run ids: random (version 4) UUIDs, made without a system call.

Why not ``uuid.uuid4()``: it reads ``os.urandom``, a system call that releases the GIL on every
run; with the store attached, the writer thread then takes the GIL and the run waits up to a
switch interval to get it back (profiled: 15 us per task run). :mod:`random` is reseeded in
forked children by the standard library; run ids must be unique, not unguessable.

Time-ordered (version 7) ids were measured too: they make the store's inserts a quarter
cheaper, but their first eight hex digits, which the command line shows and accepts as a
prefix, would be the same for every run of the same minute.
"""

from __future__ import annotations

import random
from uuid import UUID, SafeUUID

__all__ = ["new_run_id"]

_VERSION_AND_VARIANT_MASK = ~((0xF << 76) | (0x3 << 62))
_VERSION_4_RFC_VARIANT = (0x4 << 76) | (0x2 << 62)
_random_bits = random.getrandbits
_new = object.__new__
_set = object.__setattr__
_UNKNOWN = SafeUUID.unknown  # an enum member read off its class costs as much as the rest


def new_run_id() -> UUID:
    """A new random version 4 UUID."""
    run_id = _new(UUID)
    # UUID(int=...) re-checks the range and bits it was just given: a third of the cost.
    _set(run_id, "int", _random_bits(128) & _VERSION_AND_VARIANT_MASK | _VERSION_4_RFC_VARIANT)
    _set(run_id, "is_safe", _UNKNOWN)
    return run_id
