"""Run history for people and programs: durations, times, tables and JSON forms of records."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..store import EventRecord, HookErrorRecord, ProcessRecord, RunRecord

__all__ = [
    "event_json",
    "format_duration",
    "local_time",
    "moment_ago",
    "parse_duration",
    "parse_since",
    "run_json",
    "table",
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
    """A point in time: a duration ago (``2h``) or an ISO 8601 date or time (local unless zoned)."""
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


def local_time(seconds: float | None, *, precise: bool = False) -> str:
    if seconds is None:
        return "-"
    moment = datetime.fromtimestamp(seconds)
    if precise:
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def utc_iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Left-aligned columns; the last column is not padded."""
    if not rows:
        return []
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    return [
        indent
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + ("  " if widths else "")
        + row[-1]
        for row in rows
    ]


def run_json(record: RunRecord) -> dict[str, Any]:
    """The JSON form of a run, as ``flowhook runs ls --json`` prints it."""
    data: dict[str, Any] = {
        "id": record.id,
        "kind": record.kind,
        "name": record.name,
        f"{record.kind}_name": record.owner_name,
        "state_type": record.state_type,
        "state_name": record.state_name,
        "state_message": record.state_message,
        "created": utc_iso(record.created),
        "start_time": utc_iso(record.start_time),
        "end_time": utc_iso(record.end_time),
        "duration_seconds": record.duration_seconds,
        "run_count": record.run_count,
        "tags": list(record.tags),
        "import_path": record.import_path,
    }
    if record.kind == "flow":
        data.update(
            parameters=record.parameters,
            parent_flow_run_id=record.parent_flow_run_id,
            parent_task_run_id=record.parent_task_run_id,
            cancel_requested=utc_iso(record.cancel_requested),
        )
    else:
        data["flow_run_id"] = record.flow_run_id
    return data


def event_json(event: EventRecord, following: EventRecord | None) -> dict[str, Any]:
    """A state event: the converter's form of the state, its traceback, and how long it lasted."""
    duration = None
    if following is not None:
        duration = (following.timestamp - event.timestamp).total_seconds()
    return {**event.state, "traceback": event.traceback, "duration_seconds": duration}


def process_json(process: ProcessRecord | None) -> dict[str, Any] | None:
    if process is None:
        return None
    return {
        "pid": process.pid,
        "host": process.host,
        "started": utc_iso(process.started),
        "last_heartbeat": utc_iso(process.last_heartbeat),
        "command": process.command,
    }


def hook_error_json(error: HookErrorRecord) -> dict[str, Any]:
    return {
        "run_id": error.run_id,
        "kind": error.kind,
        "timestamp": utc_iso(error.timestamp),
        "description": error.description,
        "traceback": error.traceback,
    }
