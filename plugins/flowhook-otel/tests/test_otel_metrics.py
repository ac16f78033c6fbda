"""The metrics, read from the SDK's in-memory reader after real runs."""

from __future__ import annotations

import pytest
from otel_flows import doomed, etl, retrying
from otel_telemetry import Telemetry

import flowhook


def _value(telemetry: Telemetry, metric: str, **labels: str) -> object:
    wanted = {f"flowhook.{name.replace('_', '.')}": value for name, value in labels.items()}
    found = [point for attributes, point in telemetry.points(metric) if attributes == wanted]
    assert len(found) == 1, (wanted, telemetry.points(metric))
    return found[0]


def test_runs_are_counted_by_final_state(telemetry: Telemetry) -> None:
    etl(1)
    etl(2)
    with pytest.raises(ValueError):
        doomed()

    runs = "flowhook.runs"
    flow = {"run_kind": "flow"}
    assert _value(telemetry, runs, **flow, flow_name="etl", state="Completed").value == 2
    assert _value(telemetry, runs, **flow, flow_name="doomed", state="Failed").value == 1
    task = {"run_kind": "task", "flow_name": "etl", "task_name": "double", "state": "Completed"}
    assert _value(telemetry, runs, **task).value == 4
    failed = {"run_kind": "task", "flow_name": "doomed", "task_name": "explode", "state": "Failed"}
    assert _value(telemetry, runs, **failed).value == 1


def test_durations_are_a_histogram(telemetry: Telemetry) -> None:
    etl(1)
    etl(2)

    point = _value(
        telemetry, "flowhook.run.duration", run_kind="flow", flow_name="etl", state="Completed"
    )
    assert point.count == 2
    assert 0 < point.sum < 5


def test_retries_are_counted(telemetry: Telemetry) -> None:
    retrying()
    retrying()

    point = _value(
        telemetry,
        "flowhook.run.retries",
        run_kind="task",
        flow_name="retrying",
        task_name="flaky_once",
    )
    assert point.value == 2


def test_hooks_that_raise_are_counted(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOWHOOK_STRICT_HOOKS")

    @flowhook.flow
    def noisy() -> int:
        return 1

    @noisy.on_completion
    def broken(flow: object, flow_run: object, state: object) -> None:
        raise RuntimeError("hook bug")

    assert noisy() == 1
    assert noisy() == 1

    [(_, point)] = telemetry.points("flowhook.hooks.failed")
    assert point.value == 2
