"""A local OTLP/HTTP receiver for the benchmarks: answers every export request with an empty
success, counts the requests, prints its port, and stops when its standard input closes.

Run in a process of its own, so that receiving costs the measured process nothing."""

from __future__ import annotations

import http.server
import sys
import threading
from typing import Any


class _Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as with a real collector

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""


def main() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the benchmark closes it
    server.shutdown()


if __name__ == "__main__":
    main()
