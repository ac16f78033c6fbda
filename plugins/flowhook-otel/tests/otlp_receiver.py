"""A local OTLP/HTTP receiver: an HTTP server on 127.0.0.1 that decodes the protobuf export
requests of traces and metrics, as a collector would, and answers them (or a scripted status)."""

from __future__ import annotations

import http.server
import threading
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

REQUESTS = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kinds = REQUESTS.get(self.path)
        if kinds is None:
            self.send_error(404)
            return
        request = kinds[0]()
        request.ParseFromString(body)
        with self.server.lock:
            self.server.received.append((self.path, dict(self.headers.items()), request))
        payload = kinds[1]().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    received: list[tuple[str, dict[str, str], Any]]
    lock: threading.Lock


class OTLPReceiver:
    """``with OTLPReceiver() as receiver:`` listens on ``receiver.endpoint`` until the end."""

    def __enter__(self) -> OTLPReceiver:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.received = []
        self._server.lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def requests(self, path: str) -> list[tuple[dict[str, str], Any]]:
        with self._server.lock:
            return [
                (headers, request) for p, headers, request in self._server.received if p == path
            ]

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) of every span received."""
        found = []
        for _, request in self.requests("/v1/traces"):
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    found += [(resource, span) for span in scope.spans]
        return found

    def metric_names(self) -> set[str]:
        return {
            metric.name
            for _, request in self.requests("/v1/metrics")
            for resource_metrics in request.resource_metrics
            for scope in resource_metrics.scope_metrics
            for metric in scope.metrics
        }


def _attributes(items: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in items:
        kind = item.value.WhichOneof("value")
        found[item.key] = getattr(item.value, kind) if kind else None
    return found


def attributes(span: Any) -> dict[str, Any]:
    """A received span's attributes as a dict (strings, ints, bools)."""
    return _attributes(span.attributes)
