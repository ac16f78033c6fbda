"""The web UI of the store (``flowhook ui``): runs, a run's timeline and logs, live; plugins and
the outbox; cancel and retry.

A Starlette application rendered on the server with Jinja templates and SVG, served by
uvicorn; one small script of its own (``static/live.js``) keeps an open run page up to date
through server-sent events. It imports what the command line may (the runtime's layers, the
store, the notifications), never the engine's internals. Needs ``pip install 'flowhook[ui]'``.
"""

from __future__ import annotations

from .app import create_app
from .security import is_loopback
from .serve import listen, serve

__all__ = ["create_app", "is_loopback", "listen", "serve"]
