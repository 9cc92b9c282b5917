"""The console's segment pages: the segments with their counts, and a segment with its
definition, a sample of its members and (for an editor) a form that enrolls it into a journey."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console import sessions
from api.console.pages import render
from api.deps import SessionDep
from api.errors import status_of
from api.routing import resource_router
from api.schemas.common import ResourceId
from sojourn.errors import SojournError
from sojourn.services import enrollments, journeys, segments

router = resource_router(api_key=False, prefix=sessions.PATH, include_in_schema=False,
                         default_response_class=HTMLResponse)
PAGE_SIZE = 50
SAMPLE = 20
ENROLL_PAGE_SIZE = 500  # the API's default: contacts per page of the enrollment
_JOURNEYS_OFFERED = 500


@router.get("/segments")
async def segments_list(request: Request, db: SessionDep,
                        cursor: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
    session = sessions.current(request)
    found = await segments.page(db, PAGE_SIZE, cursor)
    rows = [{"segment": segment, "count": await segments.count(db, segment.id)} for segment in found["items"]]
    return render(request, "segments.html", {"session": session, "rows": rows, "next_cursor": found["next_cursor"]})


@router.get("/segments/{segment_id}")
async def segment_page(request: Request, segment_id: ResourceId, db: SessionDep) -> HTMLResponse:
    return await _segment_page(request, db, segment_id)


async def _segment_page(request: Request, db, segment_id: str, error: str | None = None, status: int = 200,
                        form: dict[str, str] | None = None) -> HTMLResponse:
    session = sessions.current(request)
    try:
        segment = await segments.get_segment(db, segment_id)
    except SojournError as exc:
        return render(request, "missing.html", {"session": session, "message": exc.message,
                                                "back": ("/console/segments", "See every segment")}, 404)
    context: dict[str, Any] = {
        "session": session, "segment": segment, "count": await segments.count(db, segment_id),
        "sample": (await segments.contacts(db, segment_id, SAMPLE, None))["items"], "error": error,
        "form": form or {"page_size": str(ENROLL_PAGE_SIZE)}, "journeys": await _active_journeys(db)}
    return render(request, "segment.html", context, status)


async def _active_journeys(db) -> list:
    return [j for j in (await journeys.page(db, _JOURNEYS_OFFERED, None))["items"] if j.status == "active"]


@router.post("/segments/{segment_id}/enrollments")
async def enroll_segment(request: Request, segment_id: ResourceId, db: SessionDep) -> Response:
    session, fields = await sessions.changing(request)
    journey_id, page_size = fields.get("journey", ""), fields.get("page_size", "").strip()
    if not journey_id:
        return await _segment_page(request, db, segment_id, "journey: choose the journey to enroll the segment in",
                                   422, fields)
    if not page_size.isdigit() or not 1 <= int(page_size) <= 1000:
        return await _segment_page(request, db, segment_id,
                                   f"page_size: a whole number from 1 to 1000 (got {page_size!r})", 422, fields)
    state = request.app.state
    try:
        started = await enrollments.start(db, state.temporal, state.settings.task_queue, journey_id, segment_id,
                                          None, int(page_size), "auto")
    except SojournError as exc:
        return await _segment_page(request, db, segment_id, exc.message, status_of(exc), fields)
    return RedirectResponse(f"{sessions.PATH}/journeys/{quote(journey_id)}/segment-enrollments/"
                            f"{quote(started['enrollment_id'])}", status_code=303)
