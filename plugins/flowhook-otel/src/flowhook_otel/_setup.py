"""Which exporters the ``OTEL_*`` environment variables ask for, and the SDK set up for them.

The plugin follows OpenTelemetry's own variables and nothing else:

- ``OTEL_SDK_DISABLED=true`` turns it off;
- ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` name the exporters (``otlp``,
  ``console``, ``none``; several separated by commas);
- without them, an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``, or the per-signal
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``..._METRICS_ENDPOINT``) selects ``otlp``: OTLP over
  HTTP with protobuf, whose headers, timeout, compression and certificates come from the
  exporter's own ``OTEL_EXPORTER_OTLP_*`` variables;
- ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` describe the resource (the service
  name defaults to ``flowhook`` instead of ``unknown_service``).

Nothing configured, and no SDK provider set by the program: the plugin is :class:`Idle`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

__all__ = [
    "EXPORTERS",
    "Idle",
    "plugin_for_process",
    "plugin_from_environment",
    "selected_exporters",
]

logger = logging.getLogger("flowhook_otel")

#: The exporter names the plugin knows, as in ``OTEL_TRACES_EXPORTER``.
EXPORTERS = ("otlp", "console")


class Idle:
    """The plugin when nothing asks for telemetry: it implements no hook, so it costs nothing.

    ``flowhook plugins`` lists it with no hooks; set ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or another
    ``OTEL_*`` exporter variable) to trace.
    """

    def __repr__(self) -> str:
        return "flowhook_otel.Idle(no OTEL_* exporter configured)"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


def selected_exporters(signal: str) -> tuple[str, ...]:
    """The exporters the environment selects for ``signal`` (``traces`` or ``metrics``)."""
    if _flag("OTEL_SDK_DISABLED"):
        return ()
    named = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER")
    if named is None:
        endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        return ("otlp",) if any(os.environ.get(name, "").strip() for name in endpoints) else ()
    chosen = []
    for item in named.split(","):
        item = item.strip().lower()
        if not item or item == "none":
            continue
        if item not in EXPORTERS:
            logger.warning(
                "OTEL_%s_EXPORTER=%s: flowhook-otel knows only %s (or none); ignored",
                signal.upper(),
                item,
                ", ".join(EXPORTERS),
            )
            continue
        chosen.append(item)
    return tuple(chosen)


def _program_has_sdk(signal: str) -> bool:
    """Whether the program already set a global SDK provider for ``signal`` (never imports
    OpenTelemetry: a program that set one has imported it)."""
    if signal == "traces":
        module = sys.modules.get("opentelemetry.trace")
        provider = module.get_tracer_provider() if module is not None else None
    else:
        module = sys.modules.get("opentelemetry.metrics")
        provider = module.get_meter_provider() if module is not None else None
    return provider is not None and type(provider).__module__.startswith("opentelemetry.sdk")


def _resource() -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "flowhook"}))
    return resource


def _tracer_provider(exporters: tuple[str, ...], resource: Any) -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=resource)
    for name in exporters:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    # The program's own spans (in task bodies) go to the same place, unless it chose another.
    trace.set_tracer_provider(provider)
    return trace.get_tracer_provider()


def _meter_provider(exporters: tuple[str, ...], resource: Any) -> Any:
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )

    readers = []
    for name in exporters:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        else:
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    return metrics.get_meter_provider()


_built: list[object] = []
_build_lock = threading.Lock()


def plugin_for_process() -> object:
    """:func:`plugin_from_environment`, built on the first call only."""
    with _build_lock:
        if not _built:
            _built.append(plugin_from_environment())
        return _built[0]


def plugin_from_environment() -> object:
    """An ``OtelPlugin`` on the providers the environment asks for (or the program's own
    SDK providers), or :class:`Idle` when there are none."""
    traces, metrics = selected_exporters("traces"), selected_exporters("metrics")
    own_traces, own_metrics = _program_has_sdk("traces"), _program_has_sdk("metrics")
    if not (traces or metrics or own_traces or own_metrics):
        return Idle()
    if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip() != "http/protobuf":
        logger.warning(
            "OTEL_EXPORTER_OTLP_PROTOCOL=%s: flowhook-otel exports OTLP over http/protobuf only",
            os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"],
        )
    from ._tracing import OtelPlugin, QueuedOtelPlugin

    resource = _resource() if (traces and not own_traces) or (metrics and not own_metrics) else None
    tracer_provider = _tracer_provider(traces, resource) if traces and not own_traces else None
    meter_provider = _meter_provider(metrics, resource) if metrics and not own_metrics else None
    # Metric instruments only aggregate in memory; spans are the program's to export when it
    # set up its own tracer provider, maybe in the caller's thread.
    plugin = OtelPlugin if own_traces else QueuedOtelPlugin
    return plugin(tracer_provider, meter_provider)
