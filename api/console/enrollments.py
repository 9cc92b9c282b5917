"""The console's segment enrollments: the latest ones, and one enrollment's progress, which its
page follows live by polling a small JSON answer (`/progress`) once a second until the
enrollment ends. Polling rather than server-sent events: the progress is a Temporal query,
answered when asked, so a stream would poll on the server anyway and hold a connection open per
watcher; a poll is one short request that any proxy passes and that stops with the page."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse

from api.console import sessions
from api.console.pages import render
from api.errors import error_body, status_of
from api.routing import resource_router
from api.schemas.common import ResourceId
from sojourn.errors import SojournError
from sojourn.services import enrollments

router = resource_router(api_key=False, prefix=sessions.PATH, include_in_schema=False,
                         default_response_class=HTMLResponse)
LISTED = 50
POLL_SECONDS = 1.0
ENDED = ("completed", "cancelled", "failed")


@router.get("/enrollments")
async def enrollments_list(request: Request) -> HTMLResponse:
    session = sessions.current(request)
    found = await enrollments.recent(request.app.state.temporal, LISTED)
    return render(request, "enrollments.html", {"session": session, "enrollments": found})


@router.get("/journeys/{journey_id}/segment-enrollments/{enrollment_id}")
async def enrollment_page(request: Request, journey_id: ResourceId, enrollment_id: ResourceId) -> HTMLResponse:
    session = sessions.current(request)
    context = {"session": session, "journey_id": journey_id, "enrollment_id": enrollment_id, "progress": None,
               "error": None, "poll_ms": int(POLL_SECONDS * 1000), "ended": ENDED}
    try:
        context["progress"] = await enrollments.progress(request.app.state.temporal, journey_id, enrollment_id)
    except SojournError as exc:
        context["error"] = exc.message
        return render(request, "enrollment.html", context, status_of(exc))
    return render(request, "enrollment.html", context)


@router.get("/journeys/{journey_id}/segment-enrollments/{enrollment_id}/progress")
async def enrollment_progress(request: Request, journey_id: ResourceId, enrollment_id: ResourceId) -> JSONResponse:
    sessions.current(request)
    try:
        progress = await enrollments.progress(request.app.state.temporal, journey_id, enrollment_id)
    except SojournError as exc:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_of(exc),
                            headers={"Cache-Control": "no-store"})
    return JSONResponse(progress, headers={"Cache-Control": "no-store"})
