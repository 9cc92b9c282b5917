"""Simulating a journey in the console: a contact (stored, or a profile as JSON) and a script of
events and engagements at offsets, run through POST /v1/journeys/{id}/simulate's own code; the
path comes back as a timeline with every message rendered. A refusal is the API's message for
the same request, beside the row it is about."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from api.console import sessions
from api.console.pages import render
from api.console.timeline import timeline
from api.deps import Needs, SessionDep
from api.errors import status_of, validation_summary
from api.routers.simulation import run_simulation
from api.routing import resource_router
from api.schemas.common import ResourceId
from api.schemas.simulation import SimulateRequest
from sojourn.errors import Invalid, SojournError
from sojourn.services import journeys
from sojourn.settings import Scope

router = resource_router(api_key=False, prefix=sessions.PATH, include_in_schema=False,
                         default_response_class=HTMLResponse)

KINDS = {"event": "Event", "opened": "Opened (an email)", "clicked": "Clicked (a link)"}
BLANK_ROWS = 3  # rows offered on a new form; the page's script adds more
ROW_FIELDS = ("at", "kind", "target", "properties")
_SCRIPT_INDEX = re.compile(r"^body\.script\.(\d+)\.")


@dataclass
class Form:
    """The form as posted, kept to show again with the answer."""

    contact_mode: str = "stored"
    contact_id: str = ""
    profile: str = ""
    version: str = ""
    rows: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def posted(cls, body: bytes) -> Form:
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        first = {name: values[0] for name, values in fields.items()}
        columns = [fields.get(name, []) for name in ROW_FIELDS]
        rows = [dict(zip(ROW_FIELDS, values, strict=True)) for values in zip(*columns, strict=False)]
        return cls(first.get("contact_mode", "stored"), first.get("contact_id", "").strip(), first.get("profile", ""),
                   first.get("version", ""), rows)

    def with_blank_rows(self) -> list[dict[str, str]]:
        """The rows as posted (numbered as they were: a refusal names one), at least BLANK_ROWS."""
        return self.rows + [dict.fromkeys(ROW_FIELDS, "") for _ in range(BLANK_ROWS - len(self.rows))]


def _blank(row: dict[str, str]) -> bool:
    return not any(row[name].strip() for name in ("at", "target", "properties"))


class _FormProblem(Invalid):
    """Something in the form that is not yet a request (JSON that does not parse): `row` is 1-based."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row


def _json(text: str, where: str, row: int | None = None) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise _FormProblem(f"{where}: not JSON: {error}", row) from None


def request_body(form: Form) -> tuple[dict[str, Any], list[int]]:
    """The body POST /v1/journeys/{id}/simulate would take for the form, and the form's row
    (1-based) of each script line."""
    body: dict[str, Any] = {}
    if form.contact_mode == "profile":
        body["contact"] = _json(form.profile or "{}", "profile")
    else:
        body["contact_id"] = form.contact_id or None
    if form.version:
        body["version"] = int(form.version) if form.version.isdigit() else form.version
    script, rows = [], []
    for number, row in enumerate(form.rows, start=1):
        if _blank(row):
            continue
        extra = _json(row["properties"], f"row {number} properties", number) if row["properties"].strip() else {}
        if row["kind"] == "event":
            line = {"at": row["at"].strip(), "event": {"name": row["target"].strip(), "properties": extra}}
        else:
            engagement = extra if isinstance(extra, dict) else {"properties": extra}
            line = {"at": row["at"].strip(), "engagement": {**engagement, "kind": row["kind"],
                                                            "node": row["target"].strip()}}
        script.append(line)
        rows.append(number)
    body["script"] = script
    return body, rows


def _row_of(message: str, rows: list[int]) -> int | None:
    """The form's row a refusal is about, from the script index it names."""
    match = _SCRIPT_INDEX.match(message) or re.match(r"^script\[(\d+)\]", message)
    return rows[int(match.group(1))] if match and int(match.group(1)) < len(rows) else None


async def _page(request: Request, db, journey_id: str, form: Form, answer: dict | None = None,
                error: str | None = None, error_row: int | None = None, status: int = 200) -> HTMLResponse:
    session = sessions.current(request)
    try:
        journey = await journeys.get_journey(db, journey_id)
        send_nodes = [node["id"] for node in (await journeys.chosen_version(db, journey_id, None)).definition["nodes"]
                      if node.get("type") == "send"]
    except SojournError as exc:
        return render(request, "missing.html", {"session": session, "message": exc.message}, 404)
    return render(request, "simulation.html", {
        "session": session, "journey": journey, "form": form, "rows": form.with_blank_rows(), "kinds": KINDS,
        "send_nodes": send_nodes, "answer": answer, "steps": timeline(answer) if answer else None,
        "error": error, "error_row": error_row}, status)


@router.get("/journeys/{journey_id}/simulate")
async def simulation_page(request: Request, journey_id: ResourceId, db: SessionDep) -> HTMLResponse:
    session = sessions.current(request)
    if not session.can_edit:  # the API's simulate is an editor's: a viewer is told so, not shown a form
        raise sessions.Refused(f"simulating needs an API key with scope {Needs(Scope.editor).described()}; "
                               f"you signed in with a key whose scope is {session.key.scope}")
    return await _page(request, db, journey_id, Form())


@router.post("/journeys/{journey_id}/simulate")
async def simulate(request: Request, journey_id: ResourceId, db: SessionDep) -> HTMLResponse:
    await sessions.changing(request)
    form = Form.posted(await request.body())
    rows: list[int] = []
    try:
        body, rows = request_body(form)
        try:
            checked = SimulateRequest.model_validate(body)
        except ValidationError as error:
            raise Invalid(validation_summary([{**e, "loc": ("body", *e["loc"])} for e in error.errors()])[0]) from None
        answer = await run_simulation(journey_id, checked, db, request.app.state.temporal, request.app.state.settings)
    except _FormProblem as problem:
        return await _page(request, db, journey_id, form, error=problem.message, error_row=problem.row, status=422)
    except SojournError as exc:
        return await _page(request, db, journey_id, form, error=exc.message, error_row=_row_of(exc.message, rows),
                           status=status_of(exc))
    return await _page(request, db, journey_id, form, answer)
