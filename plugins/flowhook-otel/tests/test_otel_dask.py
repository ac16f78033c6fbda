"""Task runs on Dask workers: their spans are still children of their flow run's span, since
flowhook-dask makes every transition in the flow's process (the context never has to travel)."""

from __future__ import annotations

import pytest
from otel_flows import double
from otel_telemetry import Telemetry

import flowhook

distributed = pytest.importorskip("distributed", reason="flowhook-dask is not installed")
flowhook_dask = pytest.importorskip("flowhook_dask", reason="flowhook-dask is not installed")


def test_task_spans_of_dask_workers_are_children_of_the_flow_span(telemetry: Telemetry) -> None:
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        dashboard_address="127.0.0.1:0",
    ) as cluster:

        @flowhook.flow(task_runner=flowhook_dask.DaskTaskRunner(cluster=cluster))
        def spread(xs: list[int]) -> int:
            return sum(double.map(xs).result())

        assert spread([1, 2, 3]) == 12

    flow_span = telemetry.span("flow spread")
    tasks = [span for span in telemetry.spans if span.name == "task double"]
    assert len(tasks) == 3
    for task_span in tasks:
        assert task_span.parent is not None
        assert task_span.parent.span_id == flow_span.context.span_id
        assert task_span.context.trace_id == flow_span.context.trace_id
        assert [event.name for event in task_span.events] == ["Pending", "Running", "Completed"]
