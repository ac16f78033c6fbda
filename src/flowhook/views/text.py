"""How the CLI and the UI write times and durations, and read the ``since`` of a filter.

One format everywhere: durations as ``0.42s``, ``12.3s``, ``1m05s``, ``2h03m`` or ``3d04h``
(with a ``+`` while the run is still going), times in the local zone to the second, state
events to the millisecond.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from flowhook.store import RunRecord

__all__ = [
    "format_duration",
    "local_time",
    "moment_ago",
    "parse_duration",
    "parse_since",
    "run_duration",
    "utc_iso",
]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``1h30m``, ``90s`` or ``2w``; ValueError says what is wrong."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit (s, m, h, d, w), e.g. 30d, "
            "12h or 1h30m"
        )
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def moment_ago(text: str, now: float) -> float:
    """The moment the duration ``text`` before ``now``; ValueError when ``text`` is not a
    duration, or reaches back before 1970-01-01 (the epoch: nothing recorded is older)."""
    moment = now - parse_duration(text)
    if not moment >= 0:
        raise ValueError(
            f"{text!r} reaches back before 1970-01-01, further than anything recorded: give a "
            "shorter age, e.g. 30d"
        )
    return moment


def parse_since(text: str, now: float | None = None) -> float:
    """A point in time: a duration ago (``2h``, ``7d``) or an ISO 8601 date or time (local
    unless zoned); ValueError says what is wrong."""
    now = time.time() if now is None else now
    try:
        parse_duration(text)
    except ValueError:
        pass
    else:
        return moment_ago(text, now)
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except (ValueError, OverflowError, OSError):  # not a date; or one the platform cannot place
        raise ValueError(
            f"{text!r} is neither a duration (e.g. 2h, 7d) nor a date or time (e.g. 2026-11-24 "
            "or 2026-11-24T08:00)"
        ) from None


def format_duration(seconds: float | None) -> str:
    """``seconds`` as ``0.42s``, ``12.3s``, ``1m05s``, ``2h03m`` or ``3d04h``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def run_duration(run: RunRecord, now: float) -> str:
    """How long ``run`` took, or has taken so far (then with a ``+``): ``-`` before it started."""
    if run.start_time is not None and run.end_time is None:
        return f"{format_duration(max(0.0, now - run.start_time))}+"
    return format_duration(run.duration_seconds)


def local_time(seconds: float | None, *, precise: bool = False) -> str:
    """``seconds`` since the epoch in the local zone, to the second (to the millisecond when
    ``precise``); ``-`` for None."""
    if seconds is None:
        return "-"
    moment = datetime.fromtimestamp(seconds)
    if precise:
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def utc_iso(seconds: float | None) -> str | None:
    """``seconds`` since the epoch as an ISO 8601 time in UTC, for JSON; None for None."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()
