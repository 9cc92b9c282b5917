"""Journeys: versions, status changes, direct enrollment, previews; and the definition's JSON Schema."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.responses import JSONResponse

from api.deps import CallerDep, PreviewerDep, SessionDep, SettingsDep, TemporalDep, TriggersDep
from api.routing import conflict, resource_router
from api.schemas.common import Page, ResourceId, Version
from api.schemas.journeys import (
    ContactsEnrollmentOut,
    EnrollRequest,
    EnrollResponse,
    JourneyCreate,
    JourneyOut,
    JourneyUpdate,
    JourneyVersionOut,
    PreviewOut,
    PreviewRequest,
)
from sojourn.data.models import Journey
from sojourn.delivery.allow_list import WebhookPolicy
from sojourn.dsl.definition import JourneyDefinition
from sojourn.services import contact_enrollments, journeys

router = resource_router(prefix="/v1/journeys", tags=["journeys"])
schema_router = resource_router(prefix="/v1/schema", tags=["journeys"])

_NOT_NOW = conflict("The journey's status does not allow this change (archived is final).")


def _out(journey: Journey, definition: dict | None = None) -> JourneyOut:
    return JourneyOut(**journey.model_dump(), definition=definition)


@schema_router.get("/journey")
async def journey_schema() -> dict:
    """The JSON Schema of a journey definition."""
    return JourneyDefinition.model_json_schema(by_alias=True)


@router.post("", status_code=201, response_model=JourneyOut, responses=conflict("The id is taken."))
async def create_journey(body: JourneyCreate, session: SessionDep, triggers: TriggersDep,
                         settings: SettingsDep, caller: CallerDep) -> JourneyOut:
    """Create a journey as a draft, with its definition as version 1."""
    return _out(*await journeys.create(session, triggers, body.id, body.definition, WebhookPolicy.of(settings),
                                       actor=caller.name))


@router.put("/{journey_id}", response_model=JourneyOut, responses=conflict("The journey is archived."))
async def update_journey(journey_id: ResourceId, body: JourneyUpdate, session: SessionDep, client: TemporalDep,
                         triggers: TriggersDep, settings: SettingsDep, caller: CallerDep) -> JourneyOut:
    """Store a new immutable version; running contacts keep the version they started on."""
    return _out(*await journeys.update(session, client, triggers, settings.task_queue, journey_id, body.definition,
                                       WebhookPolicy.of(settings), actor=caller.name))


@router.get("/{journey_id}", response_model=JourneyOut)
async def get_journey(journey_id: ResourceId, session: SessionDep) -> JourneyOut:
    return _out(*await journeys.latest(session, journey_id))


@router.get("", response_model=Page[JourneyOut])
async def list_journeys(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        cursor: str | None = None) -> dict:
    page = await journeys.page(session, limit, cursor)
    return {**page, "items": [_out(j) for j in page["items"]]}


@router.get("/{journey_id}/versions/{version}", response_model=JourneyVersionOut)
async def get_version(journey_id: ResourceId, version: Version, session: SessionDep) -> JourneyVersionOut:
    row = await journeys.get_version(session, journey_id, version)
    return JourneyVersionOut(journey_id=row.journey_id, version=row.version, definition=row.definition,
                             created_at=row.created_at)


@router.post("/{journey_id}/activate", response_model=JourneyOut, responses=_NOT_NOW)
async def activate(journey_id: ResourceId, session: SessionDep, client: TemporalDep, triggers: TriggersDep,
                   settings: SettingsDep, caller: CallerDep) -> JourneyOut:
    """Open enrollment; new runs take the newest version."""
    return _out(*await journeys.change(session, client, triggers, settings.task_queue, journey_id, "activate",
                                       actor=caller.name))


@router.post("/{journey_id}/pause", response_model=JourneyOut, responses=_NOT_NOW)
async def pause(journey_id: ResourceId, session: SessionDep, client: TemporalDep, triggers: TriggersDep,
                settings: SettingsDep, caller: CallerDep) -> JourneyOut:
    """Close enrollment; contacts already in the journey go on."""
    return _out(*await journeys.change(session, client, triggers, settings.task_queue, journey_id, "pause",
                                       actor=caller.name))


@router.post("/{journey_id}/archive", response_model=JourneyOut, responses=_NOT_NOW)
async def archive(journey_id: ResourceId, session: SessionDep, client: TemporalDep, triggers: TriggersDep,
                  settings: SettingsDep, caller: CallerDep) -> JourneyOut:
    """Retire the journey for good."""
    return _out(*await journeys.change(session, client, triggers, settings.task_queue, journey_id, "archive",
                                       actor=caller.name))


@router.post("/{journey_id}/enrollments", response_model=EnrollResponse, responses={
    **conflict("The journey is not active."),
    202: {"model": ContactsEnrollmentOut, "description": "Accepted (more than 100 contacts, or an enrollment_id); "
                                                         "the per-contact results appear at the Location."}})
async def enroll(journey_id: ResourceId, body: EnrollRequest, session: SessionDep, client: TemporalDep,
                 settings: SettingsDep) -> EnrollResponse | JSONResponse:
    """Enroll up to 1,000 contacts; a contact already in this journey keeps its existing run."""
    if contact_enrollments.answered_inline(body.contacts, body.enrollment_id):
        version, results = await journeys.enroll(session, client, settings.task_queue, journey_id, body.contacts)
        return EnrollResponse(journey_id=journey_id, version=version, results=[r.__dict__ for r in results])
    accepted = await contact_enrollments.accept(session, client, settings.task_queue, journey_id, body.contacts,
                                                body.enrollment_id)
    return JSONResponse(ContactsEnrollmentOut(**accepted).model_dump(mode="json"), status_code=202,
                        headers={"Location": f"/v1/journeys/{journey_id}/enrollments/{accepted['enrollment_id']}"})


@router.get("/{journey_id}/enrollments/{enrollment_id}", response_model=ContactsEnrollmentOut)
async def get_enrollment(journey_id: ResourceId, enrollment_id: ResourceId, client: TemporalDep) -> dict:
    """An accepted enrollment: its status and the per-contact results so far."""
    return await contact_enrollments.state(client, journey_id, enrollment_id)


@router.post("/{journey_id}/preview", response_model=PreviewOut)
async def preview(journey_id: ResourceId, body: PreviewRequest, session: SessionDep, previewer: PreviewerDep) -> dict:
    """Render a send node's message for one contact, on every channel it lists, without sending;
    and say which channel a send now would use (consent, suppression, addresses)."""
    return await previewer.preview(session, journey_id, body.version, body.node, body.contact, body.event)
