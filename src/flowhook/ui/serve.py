"""Serving the UI with uvicorn."""

from __future__ import annotations

import uvicorn

from flowhook.store import StoreSettings

from .app import create_app

__all__ = ["serve"]


def serve(host: str, port: int, settings: StoreSettings | None = None) -> None:
    """Serve the UI on ``host:port`` until interrupted."""
    config = uvicorn.Config(
        create_app(settings, host=host),
        host=host,
        port=port,
        log_level="warning",
        # An open run page keeps a stream open: do not wait for it on Ctrl-C.
        timeout_graceful_shutdown=1,
    )
    uvicorn.Server(config).run()
