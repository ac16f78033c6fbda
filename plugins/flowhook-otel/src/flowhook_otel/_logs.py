"""What the plugin does with Python logging: trace ids on run log records, failed hooks counted.

- Each record of a run logger (``flowhook.flow_runs``, ``flowhook.task_runs``) gets the
  attributes OpenTelemetry's logging instrumentation uses, ``otelTraceID``, ``otelSpanID`` and
  ``otelTraceSampled``, from its run's span: a format with ``%(otelTraceID)s`` prints them.
- When a flow run's span starts, one INFO record on the flow run's logger says its trace id
  (``OpenTelemetry trace <32 hex digits> (span <16 hex digits>)``): stored with the run's logs,
  it is what ``flowhook runs show`` and the run page of ``flowhook ui`` show as the trace.
- Each record of ``flowhook.hooks`` at ERROR (a hook raised) counts in ``flowhook.hooks.failed``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import Span

from flowhook_hookspec import FlowRun

__all__ = ["TRACE_PREFIX", "HookFailureCounter", "TraceContextFilter", "log_trace_id"]

#: The loggers whose records carry a run's ids (flowhook's run loggers).
RUN_LOGGERS = ("flowhook.flow_runs", "flowhook.task_runs")
#: How the record that names a flow run's trace begins.
TRACE_PREFIX = "OpenTelemetry trace "


class _LoggerFilter(logging.Filter):
    loggers: tuple[str, ...] = ()

    def install(self) -> None:
        for name in self.loggers:
            logging.getLogger(name).addFilter(self)

    def uninstall(self) -> None:
        for name in self.loggers:
            logging.getLogger(name).removeFilter(self)


class TraceContextFilter(_LoggerFilter):
    """Puts the trace and span ids of the record's run on each run log record."""

    loggers = RUN_LOGGERS

    def __init__(self, span_of: Callable[[str | None], Span | None]) -> None:
        super().__init__()
        self._span_of = span_of

    def filter(self, record: logging.LogRecord) -> bool:
        span = self._span_of(getattr(record, "task_run_id", None)) or self._span_of(
            getattr(record, "flow_run_id", None)
        )
        if span is not None:
            context = span.get_span_context()
            record.otelTraceID = format(context.trace_id, "032x")
            record.otelSpanID = format(context.span_id, "016x")
            record.otelTraceSampled = context.trace_flags.sampled
        return True


class HookFailureCounter(_LoggerFilter):
    """Counts the hooks that raised, from flowhook's ERROR records about them."""

    loggers = ("flowhook.hooks",)

    def __init__(self, meter: Any) -> None:
        super().__init__()
        self._failed = meter.create_counter(
            "flowhook.hooks.failed", unit="{hook}", description="Hook calls that raised"
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            self._failed.add(1)
        return True


def log_trace_id(flow_run: FlowRun, span: Span) -> None:
    """Log the trace id of a flow run's span on its logger, so that it is kept with the run."""
    context = span.get_span_context()
    if not span.is_recording() or not context.is_valid:
        return
    logger = logging.getLogger(RUN_LOGGERS[0])
    if not logger.isEnabledFor(logging.INFO):
        return
    label = f"Flow run {flow_run.name!r}"
    logger.info(
        "%s - %s%s (span %s)",
        label,
        TRACE_PREFIX,
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
        extra={
            "flow_run_id": str(flow_run.id),
            "flow_run_name": flow_run.name,
            "flow_name": flow_run.flow_name,
            "run_label": label,
        },
    )
