"""The UI's Starlette application: its store, templates, routes and guards."""

from __future__ import annotations

import functools
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from flowhook._runtime.claimant import Claimant
from flowhook.store import Store, StoreSettings, load_settings, open_existing_store
from flowhook.views import format_duration, local_time, run_duration
from flowhook_hookspec.run_ids import short_run_id

from .routes import routes
from .security import CsrfError, allowed_hosts, new_token

__all__ = ["StoreHolder", "create_app"]

_HERE = Path(__file__).parent


class StoreHolder:
    """The store, opened on first use: a UI started before the first run shows an empty list,
    and the runs once a flow has made the database (the UI itself never creates one). Once
    it is open, the UI is a registered process, with a heartbeat, as every command is."""

    def __init__(self, settings: StoreSettings) -> None:
        self._settings = settings
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._claimant = Claimant("ui", settings)

    @property
    def settings(self) -> StoreSettings:
        return self._settings

    def get(self) -> Store | None:
        with self._lock:
            if self._store is None:
                self._store = open_existing_store(self._settings)
                if self._store is not None:
                    _map_reads(self._store)
                    self._claimant.id()
            return self._store

    def close(self) -> None:
        with self._lock:
            self._claimant.close()
            if self._store is not None:
                self._store.close()
                self._store = None


def _map_reads(store: Store) -> None:
    """A SQLite store reads its file through a memory map: the UI reads it for long."""
    from flowhook.store import SQLiteStore

    if isinstance(store, SQLiteStore):
        store.map_reads()


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.filters["clock"] = local_time
    templates.env.filters["moment"] = functools.partial(local_time, precise=True)
    templates.env.filters["duration"] = format_duration
    templates.env.filters["elapsed"] = run_duration
    templates.env.filters["short_id"] = short_run_id
    return templates


async def _refused(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"Forbidden: {exc}", status_code=403)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return PlainTextResponse(f"{exc.detail}", status_code=exc.status_code)


def create_app(settings: StoreSettings | None = None, *, host: str = "127.0.0.1") -> Starlette:
    """The UI on the store of ``settings`` (the environment's by default), answering only
    requests addressed to ``host`` (see :func:`~flowhook.ui.security.allowed_hosts`)."""
    stores = StoreHolder(settings or load_settings())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            stores.close()

    app = Starlette(
        routes=routes(StaticFiles(directory=str(_HERE / "static"))),
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host))],
        exception_handlers={CsrfError: _refused, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.stores = stores
    app.state.templates = _templates()
    app.state.csrf_token = new_token()
    return app
