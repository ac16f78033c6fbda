"""How long delivery waits, from the environment: a failed message's backoff, a claim's lease,
the exit's drain. A value that is not a number is said once, in a warning, and the default used.
"""

from __future__ import annotations

import logging
import os
import random

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_CAP_SECONDS",
    "CLAIM_SECONDS",
    "MAX_ATTEMPTS",
    "backoff_seconds",
    "claim_seconds",
    "drain_seconds",
]

logger = logging.getLogger("flowhook.notifications")

#: Attempts before a transiently failing message goes dead.
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
#: How long a claim reserves a message for the process that claimed it
#: (FLOWHOOK_DELIVERY_CLAIM_SECONDS). It is renewed before a send once less than half of it is
#: left, so one send may take up to half a lease: every bundled notifier's timeout is shorter.
CLAIM_SECONDS = 120.0


def _backoff_base() -> float:
    return _seconds_setting("FLOWHOOK_DELIVERY_BACKOFF_SECONDS", BACKOFF_BASE_SECONDS)


def claim_seconds() -> float:
    """``FLOWHOOK_DELIVERY_CLAIM_SECONDS`` (default 120): a claim's lease."""
    return _seconds_setting("FLOWHOOK_DELIVERY_CLAIM_SECONDS", CLAIM_SECONDS)


def _seconds_setting(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            logger.warning("%s=%r is not a number; using %s", name, raw, default)
    return default


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempts-1))], at least ``retry_after``.

    ``base`` is ``FLOWHOOK_DELIVERY_BACKOFF_SECONDS`` (default 2).
    """
    ceiling = min(BACKOFF_CAP_SECONDS, _backoff_base() * 2 ** max(0, attempts - 1))
    delay = random.uniform(0, ceiling)
    return max(delay, retry_after or 0.0)


def drain_seconds() -> float:
    """How long the exit drain may deliver: ``FLOWHOOK_DELIVERY_DRAIN_SECONDS`` (default 10)."""
    raw = os.environ.get("FLOWHOOK_DELIVERY_DRAIN_SECONDS", "10")
    try:
        return max(0.0, float(raw))
    except ValueError:
        logger.warning("FLOWHOOK_DELIVERY_DRAIN_SECONDS=%r is not a number; using 10", raw)
        return 10.0
