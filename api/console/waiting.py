"""The runs resting at a journey's node now (the diagram's "here" on that node), each one click
from its contact's page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from api.console import sessions
from api.console.pages import render
from api.deps import SessionDep
from api.routing import resource_router
from api.schemas.common import ResourceId
from sojourn.errors import SojournError
from sojourn.services import funnels, journeys, run_paths

router = resource_router(api_key=False, prefix=sessions.PATH, include_in_schema=False,
                         default_response_class=HTMLResponse)


@router.get("/journeys/{journey_id}/nodes/{node_id}/runs")
async def runs_at_node(request: Request, journey_id: ResourceId, node_id: ResourceId, db: SessionDep,
                       version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
                       from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
                       to: Annotated[str | None, Query(max_length=40)] = None) -> HTMLResponse:
    session = sessions.current(request)
    try:
        journey = await journeys.get_journey(db, journey_id)
    except SojournError as exc:
        return render(request, "missing.html", {"session": session, "message": exc.message}, 404)
    context = {"session": session, "journey": journey, "node_id": node_id, "version": version, "start": from_ or None,
               "end": to or None, "runs": [], "error": None, "limit": run_paths.RESTING_LIMIT}
    try:
        scope = funnels.scope(journey_id, version, from_ or None, to or None)
    except SojournError as exc:
        return render(request, "node_runs.html", {**context, "error": exc.message}, 422)
    context["runs"] = await run_paths.resting(db, scope, node_id)
    return render(request, "node_runs.html", context)
