"""The SVG of the timeline and of the counts chart: rows, bars, colours by state, escaping."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from flowhook.store import RunRecord, StateCount
from flowhook.ui.timeline import counts_chart, timeline

SVG = "{http://www.w3.org/2000/svg}"


def run(
    name: str, start: float, end: float | None, state: str = "COMPLETED", **extra: Any
) -> RunRecord:
    return RunRecord(
        kind=extra.pop("kind", "task"),
        id=f"id-{name}-{start}",
        name=name,
        owner_name=extra.pop("owner", name.split("-")[0]),
        import_path=None,
        state_type=state,
        state_name=state.capitalize(),
        state_message=None,
        run_count=1,
        created=start,
        start_time=start,
        end_time=end,
        process_id=None,
    )


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_one_row_and_one_bar_per_task_run_coloured_by_state() -> None:
    flow = run("flow", 100.0, 110.0, kind="flow")
    tasks = [
        run("load-1", 100.0, 104.0),
        run("load-2", 102.0, None, "RUNNING"),
        run("save-1", 104.0, 110.0, "FAILED"),
    ]
    svg = parsed(timeline(flow, tasks, now=108.0))
    bars = svg.findall(f"{SVG}rect")
    assert [bar.get("class") for bar in bars] == [
        "bar s-completed",
        "bar s-running",
        "bar s-failed",
    ]
    labels = [t.text for t in svg.findall(f"{SVG}text[@class='row-label']")]
    assert labels == ["load-1", "load-2", "save-1"]
    x = [float(bar.get("x", "")) for bar in bars]
    width = [float(bar.get("width", "")) for bar in bars]
    assert x[0] < x[1] < x[2]
    # the running one is drawn up to now (6 s), the first took 4 s
    assert abs(width[1] / width[0] - 6 / 4) < 0.01
    # durations are written as everywhere else (flowhook.views.run_duration): + while running
    assert [bar.findtext(f"{SVG}title") for bar in bars] == [
        "load-1: Completed, 4.00s",
        "load-2: Running, 6.00s+",
        "save-1: Failed, 6.00s",
    ]


def test_a_large_run_gets_one_row_per_task_name() -> None:
    flow = run("flow", 0.0, 100.0, kind="flow")
    tasks = [run(f"{name}-{i}", float(i), i + 1.0) for name in ("a", "b") for i in range(50)]
    svg = parsed(timeline(flow, tasks, now=100.0, group_above=80))
    assert [t.text for t in svg.findall(f"{SVG}text[@class='row-label']")] == ["a (50)", "b (50)"]
    assert len(svg.findall(f"{SVG}rect")) == 100


def test_names_are_escaped() -> None:
    flow = run("flow", 0.0, 1.0, kind="flow")
    svg = timeline(flow, [run("<script>x</script>", 0.0, 1.0)], now=1.0)
    assert "<script>" not in svg
    assert parsed(svg).find(f"{SVG}text[@class='row-label']").text == "<script>x</script>"


def test_the_counts_chart_stacks_each_slice_by_state() -> None:
    counts = [StateCount(0, "COMPLETED", 3), StateCount(0, "FAILED", 1), StateCount(2, "FAILED", 2)]
    svg = parsed(counts_chart(counts, 0.0, 300.0, 3, ["COMPLETED", "FAILED"]))
    rects = [(r.get("class"), float(r.get("height", ""))) for r in svg.findall(f"{SVG}rect")]
    assert [c for c, _ in rects] == ["s-completed", "s-failed", "s-failed"]
    assert rects[0][1] == 3 * rects[1][1] and rects[2][1] == 2 * rects[1][1]
