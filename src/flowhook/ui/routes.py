"""The pages and actions of the UI: each handler asks the read model (:mod:`flowhook.views`,
through :mod:`.views`) and renders a template or JSON; the actions (cancel, resume, retry)
check the CSRF token first."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from flowhook.store import RunRecord, Store
from flowhook.views import (
    AmbiguousRun,
    BadQuery,
    CannotCancel,
    CannotResume,
    NoSuchRun,
    RunDetail,
    detail_json,
    find_run,
    list_runs,
    request_cancel,
    request_resume,
    run_detail,
    runs_json,
)

from .security import CSRF_FIELD, check_csrf
from .sse import run_events
from .views import (
    BadFilter,
    filters_of,
    outbox_view,
    plugins_view,
    run_view,
    runs_view,
    task_query_of,
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


def _bad(request: Request, error: Exception) -> Response:
    return _render(request, "error.html", {"message": str(error)}, status=400)


async def runs_list(request: Request) -> Response:
    try:
        filters = filters_of(request.query_params)
        context = await run_in_threadpool(runs_view, _store(request), filters)
    except (BadQuery, BadFilter) as exc:
        return _bad(request, exc)
    return _render(request, "runs.html", context)


async def runs_api(request: Request) -> Response:
    """The runs list as JSON: what ``flowhook runs ls --json`` prints for the same filters."""
    try:
        filters = filters_of(request.query_params)
    except BadQuery as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    page = await run_in_threadpool(list_runs, _store(request), filters)
    return JSONResponse(runs_json(page.runs))


async def _run_or_error(request: Request) -> tuple[Store, RunRecord]:
    """The run whose id is, or starts with, the path's: an unknown id is a 404, an ambiguous
    or malformed one a 400, each with the one line ``flowhook runs show`` prints."""
    store = _store(request)
    try:
        run = await run_in_threadpool(find_run, store, request.path_params["run_id"])
    except NoSuchRun as exc:
        raise HTTPException(404, str(exc)) from None
    except (AmbiguousRun, BadQuery) as exc:
        raise HTTPException(400, str(exc)) from None
    assert store is not None  # a run was found in it
    return store, run


async def _detail(request: Request) -> RunDetail:
    """The detail of the path's run, with the page of task runs the query string asks for
    (a bad ``state``, ``after``, ``before`` or ``limit`` is a 400 naming it)."""
    store, run = await _run_or_error(request)
    try:
        tasks = task_query_of(request.query_params)
    except BadQuery as exc:
        raise HTTPException(400, str(exc)) from None
    return await run_in_threadpool(run_detail, store, run, None, tasks)


async def _run_page(
    request: Request, template: str, notice: str | None = None, status: int = 200
) -> Response:
    detail = await _detail(request)
    return _render(request, template, run_view(detail, notice), status)


async def run_page(request: Request) -> Response:
    return await _run_page(request, "run.html")


async def run_live(request: Request) -> Response:
    """The parts of the run page that change, for the page's script to swap in."""
    return await _run_page(request, "_live.html")


async def run_api(request: Request) -> Response:
    """A run's detail as JSON: what ``flowhook runs show --json`` prints, with the same page
    of task runs (``?state=``, ``?after=``/``?before=``, ``?limit=``)."""
    return JSONResponse(detail_json(await _detail(request)))


async def run_stream(request: Request) -> Response:
    _, run = await _run_or_error(request)
    return run_events(
        request, request.app.state.stores.get, run.id, request.query_params.get("seen", "")
    )


async def cancel_run(request: Request) -> Response:
    """Ask the run's process to cancel it: the request ``flowhook runs cancel`` makes. The run
    page comes back with what the command prints: what happens next, or why nothing will
    (status 409)."""
    await check_csrf(request)
    store, run = await _run_or_error(request)
    settings = request.app.state.stores.settings
    try:
        outcome = await run_in_threadpool(request_cancel, store, run, CANCEL_MESSAGE, settings)
    except CannotCancel as exc:
        return await _run_page(request, "run.html", str(exc), status=409)
    return await _run_page(request, "run.html", " ".join(outcome.lines))


async def resume_run(request: Request) -> Response:
    """Ask a paused flow run's process to resume it: the request ``flowhook runs resume`` makes.
    The run page comes back with what the command prints (status 409 when it is not paused)."""
    await check_csrf(request)
    store, run = await _run_or_error(request)
    try:
        said = await run_in_threadpool(request_resume, store, run)
    except CannotResume as exc:
        return await _run_page(request, "run.html", str(exc), status=409)
    return await _run_page(request, "run.html", said)


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
        Route("/api/runs", runs_api, name="runs_api"),
        Route("/api/runs/{run_id}", run_api, name="run_api"),
        Route("/outbox", outbox_page, name="outbox"),
        Route("/outbox/{message_id:int}/retry", retry_message, methods=["POST"], name="retry"),
        Route("/plugins", plugins_page, name="plugins"),
        Mount("/static", static, name="static"),
    ]
