"""Serving the UI with uvicorn, on a socket bound first (so that a port in use is one line)."""

from __future__ import annotations

import socket

import uvicorn

from flowhook.store import StoreSettings

from .app import create_app

__all__ = ["listen", "serve"]


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``; ``OSError`` (with a message that says what to do)
    when it cannot."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OSError(f"cannot listen on {host!r}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port"
        ) from None
    return sock


def serve(sock: socket.socket, host: str, settings: StoreSettings | None = None) -> None:
    """Serve the UI on ``sock`` (bound to ``host``) until interrupted."""
    config = uvicorn.Config(
        create_app(settings, host=host),
        log_level="warning",
        # An open run page keeps a stream open: do not wait for it on Ctrl-C.
        timeout_graceful_shutdown=1,
    )
    uvicorn.Server(config).run(sockets=[sock])
