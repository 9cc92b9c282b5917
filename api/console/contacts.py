"""The console's contact pages: a search and list, and a contact with its profile, consent, tags,
events, messages with their engagement, and every journey run as a timeline of the steps it
wrote, each linked to the run in the Temporal Web UI."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from api.console import sessions
from api.console.pages import render
from api.deps import SessionDep
from api.routing import resource_router
from api.schemas.common import ExternalId
from sojourn.errors import SojournError
from sojourn.services import contacts, run_paths
from sojourn.settings import Settings

router = resource_router(api_key=False, prefix=sessions.PATH, include_in_schema=False,
                         default_response_class=HTMLResponse)
PAGE_SIZE = 50


@router.get("/contacts")
async def contacts_list(request: Request, db: SessionDep, q: Annotated[str, Query(max_length=255)] = "",
                        cursor: Annotated[str | None, Query(max_length=255)] = None) -> HTMLResponse:
    session = sessions.current(request)
    text = q.strip()
    if text:
        found, next_cursor = await contacts.search(db, text, PAGE_SIZE), None
    else:
        listed = await contacts.page(db, PAGE_SIZE, cursor)
        found, next_cursor = listed["items"], listed["next_cursor"]
    return render(request, "contacts.html", {"session": session, "contacts": found, "q": text,
                                             "next_cursor": next_cursor})


@router.get("/contacts/{external_id:path}")
async def contact_page(request: Request, external_id: ExternalId, db: SessionDep) -> HTMLResponse:
    session = sessions.current(request)
    try:
        profile = await contacts.profile(db, external_id)
    except SojournError as exc:
        return render(request, "missing.html", {"session": session, "message": exc.message,
                                                "back": ("/console/contacts", "Find another contact")}, 404)
    settings: Settings = request.app.state.settings
    steps = await run_paths.paths(db, [run["run_id"] for run in profile["journeys"] if run["run_id"]])
    runs = [{**run, "steps": steps.get(run["run_id"], []), "temporal_url": temporal_url(settings, run)}
            for run in profile["journeys"]]
    return render(request, "contact.html", {"session": session, "contact": profile, "runs": runs})


def temporal_url(settings: Settings, run: dict) -> str | None:
    """The run's history in the Temporal Web UI; none for a message a batched send delivered (no workflow)."""
    if run["batch"] is not None or not run["run_id"]:
        return None
    return (f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{quote(settings.temporal_namespace, safe='')}"
            f"/workflows/{quote(run['workflow_id'], safe='')}/{quote(run['run_id'], safe='')}/history")
