"""The journey editor: a definition's YAML with its problems at their node and field as it is
typed, a diagram of what is written, saving it as a new version, and a preview of a send node.
Checking, saving and previewing go through the services behind POST/PUT /v1/journeys and
POST /v1/journeys/{id}/preview, so the console accepts and refuses exactly what the API does."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from api.console import sessions
from api.console.drafts import Draft, as_yaml, draft_graph, line_of, read
from api.console.pages import HOME, render
from api.deps import PreviewerDep, SessionDep
from api.errors import status_of
from api.routing import resource_router
from api.schemas.common import ResourceId
from sojourn.delivery.allow_list import WebhookPolicy
from sojourn.dsl.validation import DefinitionError, Problem
from sojourn.errors import Conflict, SojournError
from sojourn.services import journeys
from sojourn.services.journey_checks import checked_definition

router = resource_router(api_key=False, prefix=sessions.PATH, include_in_schema=False,
                         default_response_class=HTMLResponse)

DEFINITION_FIELD = "definition"
# The editor's text is a definition, not a document: a bound well above any journey written by hand.
MAX_DEFINITION_CHARS = 500_000


_NOT_SAVED = "Not saved: the definition has problems, listed below; the text is as you left it."


class EditedMeanwhile(Conflict):
    code = "edited_meanwhile"


def _problems(text: str, draft: Draft, problems: list[Problem]) -> list[dict[str, Any]]:
    """Each problem with the line it is about, for the editor to point at."""
    return [{**item.model_dump(), "line": line_of(text, draft.definition, item.node, item.field)
             if draft.definition is not None else draft.line} for item in problems]


async def _check(request: Request, db, text: str) -> tuple[Draft, list[dict[str, Any]]]:
    """The text read and every problem the API would answer for it (none: it can be saved)."""
    if len(text) > MAX_DEFINITION_CHARS:
        return Draft(None), [{"node": None, "field": "", "line": None,
                              "message": f"the definition is over {MAX_DEFINITION_CHARS:,} characters"}]
    draft = read(text)
    if draft.definition is None:
        assert draft.unreadable is not None
        return draft, _problems(text, draft, [draft.unreadable])
    try:
        await checked_definition(db, draft.definition, WebhookPolicy.of(request.app.state.settings))
    except DefinitionError as error:
        return draft, _problems(text, draft, error.problems)
    return draft, []


async def _json_changing(request: Request) -> tuple[sessions.ConsoleSession, dict[str, str]] | JSONResponse:
    """`sessions.changing` for the page's own requests: a refusal as JSON the page shows in place."""
    try:
        return await sessions.changing(request)
    except sessions.NotSignedIn:
        return JSONResponse({"error": "your session has ended: sign in again (reload the page)"}, status_code=401)
    except sessions.Refused as refused:
        return JSONResponse({"error": refused.message}, status_code=403)


@router.get("/journeys/{journey_id}/edit")
async def editor_page(request: Request, journey_id: ResourceId, db: SessionDep) -> HTMLResponse:
    session = sessions.current(request)
    try:
        journey, definition = await journeys.latest(db, journey_id)
    except SojournError as exc:
        return render(request, "missing.html", {"session": session, "message": exc.message}, 404)
    text = as_yaml(definition)
    return _editor(request, session, journey, definition, text, [])


def _editor(request: Request, session: sessions.ConsoleSession, journey, saved: dict, text: str,
            problems: list[dict[str, Any]], error: str | None = None, status: int = 200) -> HTMLResponse:
    draft = read(text)
    graph = draft_graph(draft.definition) if draft.definition is not None else {"nodes": [], "edges": []}
    send_nodes = [node["id"] for node in saved.get("nodes", []) if node.get("type") == "send"]
    actions = [action for action, (sources, _) in journeys.TRANSITIONS.items() if journey.status in sources]
    return render(request, "editor.html", {
        "session": session, "journey": journey, "text": text, "problems": problems, "error": error,
        "graph": graph, "send_nodes": send_nodes, "actions": actions, "definition_field": DEFINITION_FIELD,
        "invalid_nodes": sorted({p["node"] for p in problems if p["node"]}),
    }, status)


@router.post("/journeys/{journey_id}/edit/check")
async def check(request: Request, journey_id: ResourceId, db: SessionDep) -> JSONResponse:
    """The problems of the text as written and the diagram of it, for the page to show as it is typed."""
    allowed = await _json_changing(request)
    if isinstance(allowed, JSONResponse):
        return allowed
    text = allowed[1].get(DEFINITION_FIELD, "")
    draft, problems = await _check(request, db, text)
    graph = draft_graph(draft.definition) if draft.definition is not None else None
    return JSONResponse({"problems": problems, "graph": graph})


@router.post("/journeys/{journey_id}/edit")
async def save(request: Request, journey_id: ResourceId, db: SessionDep) -> Response:
    """Save the text as the journey's next version (PUT /v1/journeys/{id}'s service), if nobody
    saved another since the editor was opened; otherwise the editor again, the text kept."""
    session, fields = await sessions.changing(request)
    try:
        journey, saved = await journeys.latest(db, journey_id)
    except SojournError as exc:
        return render(request, "missing.html", {"session": session, "message": exc.message}, 404)
    text = fields.get(DEFINITION_FIELD, "")
    draft = read(text) if len(text) <= MAX_DEFINITION_CHARS else None
    if draft is None or draft.definition is None:
        _, problems = await _check(request, db, text)
        return _editor(request, session, journey, saved, text, problems, _NOT_SAVED, 422)
    based_on = fields.get("based_on", "")
    state = request.app.state
    try:
        if based_on != str(journey.latest_version):
            raise EditedMeanwhile(f"version {journey.latest_version} was saved after you opened the editor "
                                  f"(on version {based_on or '?'}): open the editor again to start from it, "
                                  f"or save again to make your text version {journey.latest_version + 1}")
        await journeys.update(db, state.temporal, state.triggers, state.settings.task_queue, journey_id,
                              draft.definition, WebhookPolicy.of(state.settings), actor=session.key.name)
    except DefinitionError as error:
        return _editor(request, session, journey, saved, text, _problems(text, draft, error.problems), _NOT_SAVED, 422)
    except SojournError as exc:
        return _editor(request, session, journey, saved, text, [], f"Not saved: {exc.message}", 409)
    return RedirectResponse(f"{HOME}/{quote(journey_id)}", status_code=303)


@router.post("/journeys/{journey_id}/edit/preview")
async def preview(request: Request, journey_id: ResourceId, db: SessionDep, previewer: PreviewerDep) -> JSONResponse:
    """A send node of the saved version rendered for a contact on each of its channels
    (POST /v1/journeys/{id}/preview's service); the service's refusal as the API words it."""
    allowed = await _json_changing(request)
    if isinstance(allowed, JSONResponse):
        return allowed
    fields = allowed[1]
    node, contact = fields.get("node", "").strip(), fields.get("contact", "").strip()
    if not node or not contact:
        return JSONResponse({"error": "choose a send node and a contact's external id"}, status_code=422)
    try:
        return JSONResponse(await previewer.preview(db, journey_id, None, node, contact))
    except SojournError as exc:
        return JSONResponse({"error": exc.message}, status_code=status_of(exc))
