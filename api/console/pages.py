"""The console's pages: sign in and out, the journeys list and a journey's diagram with its
funnel. Pages read through the same services as the API, so their numbers are the API's; a
refusal shows the service's message in place."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.console import sessions
from api.console.diagram import experiments_of, graph
from api.deps import SessionDep
from api.routing import resource_router
from api.schemas.common import ResourceId
from sojourn.dsl.definition import JourneyDefinition
from sojourn.errors import Invalid, SojournError
from sojourn.services import experiment_results, funnels, journeys

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# Checked routes (text Postgres refuses is a 422 naming it); the session, not an API key, signs requests.
router = resource_router(api_key=False, prefix=sessions.PATH, include_in_schema=False,
                         default_response_class=HTMLResponse)

HOME = f"{sessions.PATH}/journeys"
# The journeys list's periods: runs that entered in the last N days (None: since the start).
PERIODS = {"7d": ("Last 7 days", 7), "30d": ("Last 30 days", 30), "90d": ("Last 90 days", 90),
           "all": ("All time", None)}
DEFAULT_PERIOD = "30d"
STATUS_ACTIONS = ("activate", "pause", "archive")
PAGE_SIZE = 50


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, {"sign_out_path": f"{sessions.PATH}/sign-out",
                                                              "csrf_field": sessions.CSRF_FIELD, **context},
                                          status_code=status)
    response.headers.update({"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                             "Referrer-Policy": "same-origin"})
    return response


def _after_sign_in(target: str | None) -> str:
    """Where to go once signed in: a console page, never another site."""
    return target if target and target.startswith(f"{sessions.PATH}/") and not target.startswith("//") else HOME


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query's name
    return _sign_in_form(request, _after_sign_in(next))


def _sign_in_form(request: Request, target: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    token = sessions.sign_in_token(request)
    response = render(request, "sign_in.html", {"next": target, "csrf_token": token, "error": error,
                                                "session": None}, status)
    sessions.keep_sign_in_token(response, request.app.state.settings, token)
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    fields = await sessions.form(request)
    target = _after_sign_in(fields.get("next"))
    expected = request.cookies.get(sessions.SIGN_IN_COOKIE)
    if not expected:
        raise sessions.Refused("this form has expired or did not come from the console: reload the page and try again")
    sessions.check_csrf(fields, expected)
    key = sessions.matching_key(request.app.state.settings, fields.get("api_key", ""))
    if key is None:
        return _sign_in_form(request, target, "That is not a valid API key: check it and try again.", 401)
    response = RedirectResponse(target, status_code=303)
    sessions.start(response, request.app.state.settings, key)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> RedirectResponse:
    session = sessions.current(request)
    sessions.check_csrf(await sessions.form(request), session.csrf_token)
    response = RedirectResponse(f"{sessions.PATH}/sign-in", status_code=303)
    sessions.end(response, request.app.state.settings)
    return response


@router.get("/journeys")
async def journeys_list(request: Request, db: SessionDep, period: str = DEFAULT_PERIOD,
                        cursor: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
    session = sessions.current(request)
    if period not in PERIODS:
        period = DEFAULT_PERIOD
    days = PERIODS[period][1]
    since = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)).isoformat() if days is not None else None
    found = await journeys.page(db, PAGE_SIZE, cursor)
    rows = []
    for journey in found["items"]:
        counts = (await funnels.funnel(db, funnels.scope(journey.id, None, since, None)))["journey"]
        rows.append({"journey": journey, **counts})
    return render(request, "journeys.html", {"session": session, "rows": rows, "periods": PERIODS,
                                             "period": period, "since": since, "next_cursor": found["next_cursor"]})


@router.get("/journeys/{journey_id}")
async def journey_page(request: Request, journey_id: ResourceId, db: SessionDep, version: str | None = None,
                       from_: Annotated[str | None, Query(alias="from")] = None, to: str | None = None) -> HTMLResponse:
    return await _journey_page(request, db, journey_id, version or None, from_ or None, to or None)


async def _journey_page(request: Request, db, journey_id: str, version: str | None, start: str | None,
                        end: str | None, error: str | None = None, status: int = 200) -> HTMLResponse:
    session = sessions.current(request)
    try:
        journey, definition = await journeys.latest(db, journey_id)
    except SojournError as exc:
        return render(request, "missing.html", {"session": session, "message": exc.message}, 404)
    context: dict[str, Any] = {"session": session, "journey": journey, "version": version, "start": start,
                               "end": end, "graph": None, "funnel": None, "error": error,
                               "actions": [a for a in STATUS_ACTIONS if _allowed(journey.status, a)]}
    try:
        chosen = _version_number(version, journey.latest_version)
        if chosen is not None:
            definition = (await journeys.get_version(db, journey_id, chosen)).definition
        funnel = await funnels.funnel(db, funnels.scope(journey_id, chosen, start, end))
    except SojournError as exc:
        context["error"] = exc.message
        return render(request, "journey.html", context, 422 if status == 200 else status)
    parsed, results = JourneyDefinition.model_validate(definition), None
    if experiments_of(parsed):
        results = await experiment_results.experiments(db, journey_id, request.app.state.settings.global_control_percent)
    context.update(funnel=funnel, graph=graph(parsed, funnel, results), experiments=results)
    return render(request, "journey.html", context, status)


def _version_number(version: str | None, latest: int) -> int | None:
    if version is None:
        return None
    if not version.isdigit() or not 1 <= int(version) <= latest:
        raise _BadQuery(f"version: choose a version from 1 to {latest} (got {version!r})")
    return int(version)


class _BadQuery(Invalid):
    pass


def _allowed(status: str, action: str) -> bool:
    return {"activate": status in ("draft", "paused"), "pause": status == "active",
            "archive": status != "archived"}[action]


@router.post("/journeys/{journey_id}/status")
async def change_status(request: Request, journey_id: ResourceId, db: SessionDep) -> Response:
    session, fields = await sessions.changing(request)
    action = fields.get("action", "")
    if action not in STATUS_ACTIONS:
        raise sessions.Refused(f"action: one of {', '.join(STATUS_ACTIONS)} (got {action!r})")
    state = request.app.state
    try:
        await journeys.change(db, state.temporal, state.triggers, state.settings.task_queue, journey_id, action,
                              actor=session.key.name)
    except SojournError as exc:
        return await _journey_page(request, db, journey_id, None, None, None, exc.message, 409)
    return RedirectResponse(f"{HOME}/{quote(journey_id)}", status_code=303)
