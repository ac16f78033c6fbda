"""flowhook-otel: OpenTelemetry traces and metrics of every flow run and task run.

Installed, it traces each flow run and task run as a span (task runs children of their flow
run's span, subflows of their parent's), with one span event per state entered, and counts runs,
retries and failed hooks as metrics. It is configured only by the standard ``OTEL_*`` environment
variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ...), or by the OpenTelemetry SDK set up in the program itself.

With neither, the plugin flowhook loads (the entry point names :data:`plugin`) implements no
hook at all, so that installing it costs nothing; OpenTelemetry is not even imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._setup import Idle, selected_exporters
from ._version import __version__

if TYPE_CHECKING:
    from ._tracing import OtelPlugin, QueuedOtelPlugin

__all__ = [
    "Idle",
    "OtelPlugin",
    "QueuedOtelPlugin",
    "__version__",
    "plugin",
    "plugin_from_environment",
    "selected_exporters",
]


def plugin_from_environment() -> object:
    """The plugin for this process: an :class:`OtelPlugin` when an exporter is configured or
    the program set up an OpenTelemetry SDK, else an :class:`Idle` that implements no hook.

    Decided once per process: later calls return the same object (one set of exporters)."""
    from ._setup import plugin_for_process

    return plugin_for_process()


def __getattr__(name: str) -> Any:
    # ``plugin`` is what the entry point names: decided when flowhook loads its plugins, from
    # the environment of that moment. OtelPlugin imports OpenTelemetry, so it is imported late.
    if name == "plugin":
        return plugin_from_environment()
    if name in ("OtelPlugin", "QueuedOtelPlugin"):
        from . import _tracing

        return getattr(_tracing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
