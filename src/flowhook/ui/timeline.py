"""Server-rendered SVG: the timeline (Gantt) of a flow run's task runs, and the runs per state.

The bars carry the class ``s-<state type>`` (``s-completed``); the stylesheet gives each state
its colour, so that bars, badges and the legend share one palette.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from flowhook.store import RunRecord, StateCount
from flowhook.views import run_duration

__all__ = ["GROUP_ABOVE", "counts_chart", "timeline"]

#: Above this many task runs, the timeline draws one row per task name, not per task run.
GROUP_ABOVE = 80

_WIDTH = 960
_LABEL = 200
_ROW = 18
_AXIS = 24


def _ticks(start: float, span: float, count: int = 6) -> list[tuple[float, str]]:
    """Offsets (seconds from ``start``) and labels of the axis ticks."""
    steps = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]
    step = next((s for s in steps if span / s <= count), max(span / count, 1.0))
    ticks = []
    offset = 0.0
    while offset <= span + 1e-9:
        label = f"{offset:g} s" if step < 60 else f"{offset / 60:g} min"
        ticks.append((offset, label))
        offset += step
    return ticks


def _ends(runs: Sequence[RunRecord], now: float) -> list[float]:
    return [now if run.end_time is None else run.end_time for run in runs]


def _label(text: str, limit: int = 28) -> str:
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def timeline(
    flow_run: RunRecord,
    task_runs: Sequence[RunRecord],
    now: float,
    *,
    group_above: int = GROUP_ABOVE,
) -> str:
    """The SVG timeline of ``task_runs``: one row per task run, or per task name when there are
    more than ``group_above``; a run still going is drawn up to ``now``."""
    started = [run for run in task_runs if run.start_time is not None]
    origin = flow_run.start_time
    if origin is None:
        origin = min((r.start_time for r in started if r.start_time is not None), default=now)
    end = max([now if flow_run.end_time is None else flow_run.end_time, *_ends(started, now)])
    span = max(end - origin, 1e-3)
    grouped = len(task_runs) > group_above
    rows: dict[str, list[RunRecord]] = {}
    for run in task_runs:
        rows.setdefault(run.owner_name if grouped else run.id, []).append(run)
    height = _AXIS + _ROW * max(len(rows), 1) + 4
    scale = (_WIDTH - _LABEL - 12) / span
    parts = [
        f'<svg class="timeline" viewBox="0 0 {_WIDTH} {height}" width="100%" '
        f'role="img" aria-label="Timeline of {len(task_runs)} task runs" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for offset, text in _ticks(origin, span):
        x = _LABEL + offset * scale
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{_AXIS - 6}" x2="{x:.1f}" y2="{height}"/>'
            f'<text class="tick" x="{x:.1f}" y="{_AXIS - 10}">{text}</text>'
        )
    for index, (key, runs) in enumerate(rows.items()):
        y = _AXIS + index * _ROW
        name = key if grouped else runs[0].name
        label = f"{name} ({len(runs)})" if grouped else name
        parts.append(
            f'<text class="row-label" x="{_LABEL - 8}" y="{y + _ROW - 5}">{_label(label)}</text>'
        )
        for run in runs:
            if run.start_time is None:
                continue
            took = (now if run.end_time is None else run.end_time) - run.start_time
            x = _LABEL + (run.start_time - origin) * scale
            width = max(took * scale, 2.0)
            parts.append(
                f'<rect class="bar s-{escape(run.state_type.lower())}" data-run="{escape(run.id)}" '
                f'x="{x:.1f}" y="{y + 3}" width="{width:.1f}" height="{_ROW - 6}" rx="2">'
                f"<title>{escape(run.name)}: {escape(run.state_name)}, {run_duration(run, now)}</title>"
                "</rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def counts_chart(
    counts: Sequence[StateCount], since: float, until: float, buckets: int, states: Sequence[str]
) -> str:
    """A stacked bar chart of the runs created in each slice of [since, until), by state."""
    width, height, bottom = 960, 120, 18
    per_bucket: dict[int, dict[str, int]] = {}
    for count in counts:
        per_bucket.setdefault(count.bucket, {})[count.state_type] = count.count
    top = max((sum(by_state.values()) for by_state in per_bucket.values()), default=0)
    bar = width / buckets
    scale = (height - bottom - 4) / top if top else 0.0
    parts = [
        f'<svg class="counts" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Runs by state over time" xmlns="http://www.w3.org/2000/svg">'
    ]
    for bucket in range(buckets):
        x = bucket * bar
        y = float(height - bottom)
        for state in states:
            value = per_bucket.get(bucket, {}).get(state, 0)
            if not value:
                continue
            h = value * scale
            y -= h
            parts.append(
                f'<rect class="s-{state.lower()}" x="{x + 1:.1f}" y="{y:.1f}" '
                f'width="{bar - 2:.1f}" height="{h:.1f}"><title>{value} {state.lower()}</title></rect>'
            )
    parts.append(
        f'<line class="axis" x1="0" y1="{height - bottom}" x2="{width}" y2="{height - bottom}"/>'
    )
    for fraction, anchor in ((0.0, "start"), (0.5, "middle"), (1.0, "end")):
        label = datetime.fromtimestamp(since + fraction * (until - since)).strftime("%m-%d %H:%M")
        x = fraction * width
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{height - 4}" text-anchor="{anchor}">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
