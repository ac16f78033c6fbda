"""Spans, span events, attributes and status of real flow runs, with the SDK's in-memory exporter."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from otel_flows import doomed, etl, parent, retrying
from otel_telemetry import Telemetry

import flowhook


def test_a_flow_run_and_its_task_runs_form_one_tree(telemetry: Telemetry) -> None:
    assert etl(2) == 10

    flow_span = telemetry.span("flow etl")
    tasks = [span for span in telemetry.spans if span.name == "task double"]
    assert len(tasks) == 2
    assert flow_span.parent is None
    for task_span in tasks:
        assert task_span.context.trace_id == flow_span.context.trace_id
        assert task_span.parent is not None
        assert task_span.parent.span_id == flow_span.context.span_id
        assert flow_span.start_time <= task_span.start_time <= task_span.end_time
        assert task_span.end_time <= flow_span.end_time
        assert task_span.attributes["flowhook.task.name"] == "double"
        assert task_span.attributes["flowhook.flow.name"] == "etl"
        assert task_span.attributes["flowhook.run.kind"] == "task"
        assert task_span.attributes["flowhook.state"] == "Completed"
        assert task_span.status.status_code is StatusCode.UNSET


def test_the_flow_span_says_which_run_it_is(telemetry: Telemetry) -> None:
    state = etl(2, return_state=True)
    run_id = state.run_id

    span = telemetry.span("flow etl")
    assert span.attributes["flowhook.run.id"] == str(run_id)
    assert span.attributes["flowhook.run.name"]
    assert span.attributes["flowhook.flow.name"] == "etl"
    assert span.attributes["flowhook.state"] == "Completed"
    assert span.attributes["flowhook.run.retries"] == 0
    assert tuple(span.attributes["flowhook.run.tags"]) == ("nightly",)
    assert [event.name for event in span.events] == ["Pending", "Running", "Completed"]
    running = span.events[1]
    assert running.attributes["flowhook.state.type"] == "RUNNING"
    assert running.attributes["flowhook.run.count"] == 1


def test_a_retried_task_has_each_attempt_as_events(telemetry: Telemetry) -> None:
    assert retrying() == "ok"

    span = telemetry.span("task flaky_once")
    names = [event.name for event in span.events]
    assert names == ["Pending", "Running", "AwaitingRetry", "exception", "Retrying", "Completed"]
    retry = span.events[2]
    assert "first attempt fails" in retry.attributes["flowhook.state.message"]
    assert span.events[3].attributes["exception.type"] == "ConnectionError"
    assert span.events[4].attributes["flowhook.run.count"] == 2
    assert span.attributes["flowhook.run.retries"] == 1
    assert span.status.status_code is StatusCode.UNSET


def test_failed_runs_are_errors_with_the_exception(telemetry: Telemetry) -> None:
    with pytest.raises(ValueError, match="bad row 7"):
        doomed()

    for name in ("task explode", "flow doomed"):
        span = telemetry.span(name)
        assert span.status.status_code is StatusCode.ERROR
        assert "bad row 7" in (span.status.description or "")
        assert span.attributes["flowhook.state"] == "Failed"
        [exception] = [event for event in span.events if event.name == "exception"]
        assert exception.attributes["exception.type"] == "ValueError"
        assert exception.attributes["exception.message"] == "bad row 7"


@flowhook.flow(timeout_seconds=0.2)
def slow() -> None:
    import time

    time.sleep(2)


def test_a_timed_out_run_is_an_error(telemetry: Telemetry) -> None:
    state = slow(return_state=True)
    assert state.name == "TimedOut"

    span = telemetry.span("flow slow")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["flowhook.state"] == "TimedOut"


def test_a_subflow_is_a_child_of_its_parent(telemetry: Telemetry) -> None:
    assert parent() == 6

    outer = telemetry.span("flow parent")
    inner = telemetry.span("flow etl")
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id
    for task_span in (s for s in telemetry.spans if s.name == "task double"):
        assert task_span.parent is not None
        assert task_span.parent.span_id == inner.context.span_id


def test_a_flow_started_inside_a_span_is_its_child(telemetry: Telemetry) -> None:
    tracer = trace.get_tracer("web", tracer_provider=telemetry.tracer_provider)
    with tracer.start_as_current_span("GET /reports") as request:
        etl(1)

    flow_span = telemetry.span("flow etl")
    assert flow_span.parent is not None
    assert flow_span.parent.span_id == request.get_span_context().span_id
    assert flow_span.context.trace_id == request.get_span_context().trace_id


def test_run_log_records_carry_the_trace_id(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    @flowhook.task
    def chatty() -> None:
        flowhook.get_run_logger().info("halfway")

    @flowhook.flow
    def talking() -> None:
        flowhook.get_run_logger().info("starting")
        chatty()

    caplog.set_level(logging.INFO)
    talking()

    flow_span = telemetry.span("flow talking")
    task_span = telemetry.span("task chatty")
    records = {
        record.getMessage().split(" - ", 1)[1]: record
        for record in caplog.records
        if record.name.startswith("flowhook.") and " - " in record.getMessage()
    }
    trace_id = format(flow_span.context.trace_id, "032x")
    assert records["starting"].otelTraceID == trace_id
    assert records["starting"].otelSpanID == format(flow_span.context.span_id, "016x")
    assert records["halfway"].otelTraceID == trace_id
    assert records["halfway"].otelSpanID == format(task_span.context.span_id, "016x")
    announced = records[f"OpenTelemetry trace {trace_id} (span {records['starting'].otelSpanID})"]
    assert announced.name == "flowhook.flow_runs"
