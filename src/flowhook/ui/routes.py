"""The pages and actions of the UI: each handler reads the store through :mod:`.views` and
renders a template; the actions (cancel, resume, retry) check the CSRF token first."""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from flowhook.store import RunRecord, Store

from .security import CSRF_FIELD, check_csrf
from .sse import run_events
from .views import (
    BadFilter,
    RunFilters,
    find_run,
    outbox_view,
    plugins_view,
    run_view,
    runs_view,
)

__all__ = ["routes"]

#: The cancel button's reason, as ``flowhook runs cancel`` gives its own.
CANCEL_MESSAGE = "Cancelled from the flowhook UI"


def _store(request: Request) -> Store | None:
    opened: Store | None = request.app.state.stores.get()
    return opened


def _render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    context = {**context, "csrf_field": CSRF_FIELD, "csrf_token": request.app.state.csrf_token}
    return templates.TemplateResponse(request, template, context, status_code=status)


def _bad(request: Request, error: BadFilter) -> Response:
    return _render(request, "error.html", {"message": str(error)}, status=400)


async def runs_list(request: Request) -> Response:
    try:
        filters = RunFilters.parse(request.query_params)
        context = await run_in_threadpool(runs_view, _store(request), filters)
    except BadFilter as exc:
        return _bad(request, exc)
    return _render(request, "runs.html", context)


async def _run_or_404(request: Request) -> tuple[Store, RunRecord]:
    store = _store(request)
    run = await run_in_threadpool(find_run, store, request.path_params["run_id"])
    if store is None or run is None:
        raise HTTPException(404, f"no run has id {request.path_params['run_id']!r}")
    return store, run


async def run_page(request: Request) -> Response:
    store, run = await _run_or_404(request)
    context = await run_in_threadpool(run_view, store, run)
    return _render(request, "run.html", context)


async def run_live(request: Request) -> Response:
    """The parts of the run page that change, for the page's script to swap in."""
    store, run = await _run_or_404(request)
    context = await run_in_threadpool(run_view, store, run)
    return _render(request, "_live.html", context)


async def run_stream(request: Request) -> Response:
    _, run = await _run_or_404(request)
    return run_events(
        request, request.app.state.stores.get, run.id, request.query_params.get("seen", "")
    )


async def cancel_run(request: Request) -> Response:
    """Ask the run's process to cancel it: the request ``flowhook runs cancel`` makes."""
    await check_csrf(request)
    store, run = await _run_or_404(request)
    if run.kind == "flow" and not run.is_final:
        await run_in_threadpool(store.request_cancel, run.id, CANCEL_MESSAGE, time.time())
    return RedirectResponse(request.url_for("run", run_id=run.id), status_code=303)


async def resume_run(request: Request) -> Response:
    """Ask a paused flow run's process to resume it: the request ``flowhook runs resume`` makes."""
    await check_csrf(request)
    store, run = await _run_or_404(request)
    if run.kind == "flow" and run.state_type == "PAUSED":
        await run_in_threadpool(store.request_resume, run.id)
    return RedirectResponse(request.url_for("run", run_id=run.id), status_code=303)


async def outbox_page(request: Request) -> Response:
    try:
        status = request.query_params.get("status") or None
        context = await run_in_threadpool(outbox_view, _store(request), status)
    except BadFilter as exc:
        return _bad(request, exc)
    return _render(request, "outbox.html", context)


async def retry_message(request: Request) -> Response:
    """Make a pending or dead message due again (``flowhook outbox retry ID``); the next
    delivery (``flowhook watch``, ``flowhook deliver``, a process running flows) sends it."""
    fields = await check_csrf(request)
    store = _store(request)
    if store is not None:
        await run_in_threadpool(store.retry_outbox, [request.path_params["message_id"]])
    back = fields.get("back", "")
    target = back if back.startswith("/") and not back.startswith("//") else "/outbox"
    return RedirectResponse(target, status_code=303)


async def plugins_page(request: Request) -> Response:
    return _render(request, "plugins.html", await run_in_threadpool(plugins_view))


def routes(static: StaticFiles) -> list[Route | Mount]:
    return [
        Route("/", runs_list, name="runs"),
        Route("/runs/{run_id}", run_page, name="run"),
        Route("/runs/{run_id}/live", run_live, name="run_live"),
        Route("/runs/{run_id}/events", run_stream, name="run_events"),
        Route("/runs/{run_id}/cancel", cancel_run, methods=["POST"], name="cancel"),
        Route("/runs/{run_id}/resume", resume_run, methods=["POST"], name="resume"),
        Route("/outbox", outbox_page, name="outbox"),
        Route("/outbox/{message_id:int}/retry", retry_message, methods=["POST"], name="retry"),
        Route("/plugins", plugins_page, name="plugins"),
        Mount("/static", static, name="static"),
    ]
