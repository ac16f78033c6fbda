"""The plugin proper: a span per flow run and task run, a span event per state, the metrics.

A run's span starts when the run is created (it enters Pending) and ends with its final state.
Its parent is, in this order: the span of the task run or flow run that started it (a subflow),
the span of its flow run (a task run), or the span current where the run was created (a flow
started inside a web request's span, a parent job's span). A run whose start this process never
saw (the reaper marking another process's run Crashed) gets a span of its own, from its start
time to the crash, in a trace of its own: the dead process took its original span with it.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from flowhook_hookspec import FlowRun, State, StateType, TaskRun, hookimpl

from ._logs import HookFailureCounter, TraceContextFilter, log_trace_id
from ._version import __version__

__all__ = ["ERROR_TYPES", "OtelPlugin", "QueuedOtelPlugin"]

#: The state types whose entry makes a span's status ERROR (Failed, TimedOut, Crashed).
ERROR_TYPES = frozenset({StateType.FAILED, StateType.CRASHED})


def _nanos(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1_000_000_000)


class _Live:
    """A run's span while the run moves, and what its metrics are labelled with."""

    __slots__ = ("labels", "span")

    def __init__(self, span: Span, labels: dict[str, str]) -> None:
        self.span = span
        self.labels = labels


class OtelPlugin:
    """Traces every run with ``tracer_provider`` and measures it with ``meter_provider``
    (the global ones when ``None``). :meth:`close` removes its log filters."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self._tracer = trace.get_tracer("flowhook_otel", __version__, tracer_provider)
        meter = metrics.get_meter("flowhook_otel", __version__, meter_provider=meter_provider)
        self._runs = meter.create_counter(
            "flowhook.runs", unit="{run}", description="Runs that reached a final state"
        )
        self._duration = meter.create_histogram(
            "flowhook.run.duration", unit="s", description="Duration of runs, start to end"
        )
        self._retries = meter.create_counter(
            "flowhook.run.retries", unit="{retry}", description="Failed attempts retried"
        )
        self._live: dict[str, _Live] = {}
        self._lock = threading.Lock()
        self._filters = (TraceContextFilter(self.span_of), HookFailureCounter(meter))
        for found in self._filters:
            found.install()

    def close(self) -> None:
        """Stop annotating log records and counting failed hooks (the spans already ended stay)."""
        for found in self._filters:
            found.uninstall()

    def span_of(self, run_id: str | None) -> Span | None:
        """The span of the run ``run_id`` (its id as text) while it moves, else ``None``."""
        live = self._live.get(run_id) if run_id else None
        return None if live is None else live.span

    @hookimpl
    def on_flow_run_state_change(
        self, flow_run: FlowRun, old_state: State | None, new_state: State
    ) -> None:
        """Start, annotate or end the span of a flow run."""
        live = self._live.get(str(flow_run.id))
        if live is None:
            parent = self.span_of(
                str(flow_run.parent_task_run_id or flow_run.parent_flow_run_id or "")
            )
            labels = {"flowhook.run.kind": "flow", "flowhook.flow.name": flow_run.flow_name}
            live = self._start(f"flow {flow_run.flow_name}", flow_run, labels, parent, new_state)
            if old_state is None:  # not a stand-in: the run's own trace is the one to record
                log_trace_id(flow_run, live.span)
        self._enter(flow_run, live, new_state)

    @hookimpl
    def on_task_run_state_change(
        self, task_run: TaskRun, old_state: State | None, new_state: State
    ) -> None:
        """Start, annotate or end the span of a task run."""
        live = self._live.get(str(task_run.id))
        if live is None:
            flow_run_id = str(task_run.flow_run_id or "")
            labels = {"flowhook.run.kind": "task", "flowhook.task.name": task_run.task_name}
            flow_live = self._live.get(flow_run_id)
            if flow_live is not None:
                labels["flowhook.flow.name"] = flow_live.labels["flowhook.flow.name"]
            parent = None if flow_live is None else flow_live.span
            live = self._start(f"task {task_run.task_name}", task_run, labels, parent, new_state)
        self._enter(task_run, live, new_state)

    def _start(
        self,
        name: str,
        run: FlowRun | TaskRun,
        labels: dict[str, str],
        parent: Span | None,
        state: State,
    ) -> _Live:
        attributes: dict[str, Any] = {
            **labels,
            "flowhook.run.id": str(run.id),
            "flowhook.run.name": run.name,
        }
        if run.tags:
            attributes["flowhook.run.tags"] = list(run.tags)
        context = None if parent is None else trace.set_span_in_context(parent)
        started = state.timestamp
        if state.is_final():  # a run first seen as it ends: reaped, its process dead
            attributes["flowhook.run.reaped"] = True
            started = run.start_time or started
        span = self._tracer.start_span(
            name,
            context=context,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=_nanos(started),
        )
        live = _Live(span, labels)
        with self._lock:
            self._live[str(run.id)] = live
        return live

    def _enter(self, run: FlowRun | TaskRun, live: _Live, state: State) -> None:
        span = live.span
        timestamp = _nanos(state.timestamp)
        event: dict[str, Any] = {
            "flowhook.state.type": state.type.value,
            "flowhook.run.count": run.run_count,
        }
        if state.message:
            event["flowhook.state.message"] = state.message
        span.add_event(state.name, event, timestamp=timestamp)
        if state.name == "AwaitingRetry":
            self._retries.add(1, live.labels)
            if state.exception is not None:
                span.record_exception(state.exception, timestamp=timestamp)
        if state.is_final():
            self._end(run, live, state)

    def _end(self, run: FlowRun | TaskRun, live: _Live, state: State) -> None:
        span = live.span
        # Set once, at the end: a span is exported only when it ends, and attributes are costly.
        span.set_attributes(
            {"flowhook.state": state.name, "flowhook.run.retries": max(0, run.run_count - 1)}
        )
        if state.type in ERROR_TYPES:
            if state.exception is not None:
                span.record_exception(state.exception, timestamp=_nanos(state.timestamp))
            span.set_status(Status(StatusCode.ERROR, state.message or state.name))
        span.end(end_time=_nanos(state.timestamp))
        with self._lock:
            self._live.pop(str(run.id), None)
        labels = {**live.labels, "flowhook.state": state.name}
        self._runs.add(1, labels)
        duration = run.duration_seconds
        if duration is not None:
            self._duration.record(duration, labels)


class QueuedOtelPlugin(OtelPlugin):
    """An :class:`OtelPlugin` on the providers the plugin set up itself, whose processors queue
    spans and metrics for threads of their own: its hooks never block, and say so
    (``flowhook_nonblocking``), so that an async run calls them on its event loop instead of
    moving each step to a worker thread. A program's own provider may export in the caller's
    thread (``SimpleSpanProcessor``): the plugin then stays an :class:`OtelPlugin`."""

    @hookimpl
    def on_flow_run_state_change(
        self, flow_run: FlowRun, old_state: State | None, new_state: State
    ) -> None:
        """Start, annotate or end the span of a flow run."""
        OtelPlugin.on_flow_run_state_change(self, flow_run, old_state, new_state)

    @hookimpl
    def on_task_run_state_change(
        self, task_run: TaskRun, old_state: State | None, new_state: State
    ) -> None:
        """Start, annotate or end the span of a task run."""
        OtelPlugin.on_task_run_state_change(self, task_run, old_state, new_state)

    on_flow_run_state_change.flowhook_nonblocking = True  # type: ignore[attr-defined]
    on_task_run_state_change.flowhook_nonblocking = True  # type: ignore[attr-defined]
