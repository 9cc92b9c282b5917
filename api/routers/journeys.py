from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import ApiError, not_found
from api.pagination import keyset_page
from api.schemas import (
    EnrollRequest,
    EnrollResponse,
    JourneyCreate,
    JourneyOut,
    JourneyUpdate,
    JourneyVersionOut,
    Page,
    PreviewOut,
    PreviewRequest,
)
from sojourn.contracts.journey import ContactEvent
from sojourn.data.models import Contact, ContactConsent, Journey, utcnow
from sojourn.delivery.send import choose_channel, message_context
from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.nodes import SendNode
from sojourn.dsl.templating import TemplateRenderError
from sojourn.services import journeys, schedules, triggers

router = APIRouter(prefix="/v1/journeys", tags=["journeys"])
schema_router = APIRouter(prefix="/v1/schema", tags=["journeys"])


def _out(journey: Journey, definition: dict | None = None) -> JourneyOut:
    return JourneyOut(**journey.model_dump(), definition=definition)


@schema_router.get("/journey")
async def journey_schema() -> dict:
    """The JSON Schema of a journey definition."""
    return JourneyDefinition.model_json_schema(by_alias=True)


@router.post("", status_code=201, response_model=JourneyOut)
async def create_journey(body: JourneyCreate, session: SessionDep, settings: SettingsDep) -> JourneyOut:
    """Create a journey as a draft, with its definition as version 1."""
    journey = await journeys.create_journey(session, body.id, body.definition, settings.webhook_allowed_hosts)
    triggers.invalidate()
    return _out(journey, (await journeys.get_version(session, journey.id, 1)).definition)


@router.put("/{journey_id}", response_model=JourneyOut)
async def update_journey(journey_id: str, body: JourneyUpdate, session: SessionDep, client: TemporalDep,
                         settings: SettingsDep) -> JourneyOut:
    """Store a new immutable version; running contacts keep the version they started on."""
    journey = await journeys.add_version(session, journey_id, body.definition, settings.webhook_allowed_hosts)
    triggers.invalidate()
    await schedules.sync(client, journey_id, journey.status, JourneyDefinition.model_validate(body.definition),
                         settings.task_queue, version_changed=True)
    return _out(journey, (await journeys.get_version(session, journey_id, journey.latest_version)).definition)


@router.get("/{journey_id}", response_model=JourneyOut)
async def get_journey(journey_id: str, session: SessionDep) -> JourneyOut:
    journey = await journeys.get_journey(session, journey_id)
    return _out(journey, (await journeys.get_version(session, journey_id, journey.latest_version)).definition)


@router.get("", response_model=Page[JourneyOut])
async def list_journeys(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        cursor: str | None = None) -> dict:
    page = await keyset_page(session, select(Journey), Journey.id, limit, cursor)
    return {**page, "items": [_out(j) for j in page["items"]]}


@router.get("/{journey_id}/versions/{version}", response_model=JourneyVersionOut)
async def get_version(journey_id: str, version: int, session: SessionDep) -> JourneyVersionOut:
    row = await journeys.get_version(session, journey_id, version)
    return JourneyVersionOut(journey_id=row.journey_id, version=row.version, definition=row.definition,
                             created_at=row.created_at)


async def _change(journey_id: str, action: str, session, client, settings) -> JourneyOut:
    journey = await journeys.change_status(session, journey_id, action)
    triggers.invalidate()
    definition = (await journeys.get_version(session, journey_id, journey.latest_version)).definition
    await schedules.sync(client, journey_id, journey.status, JourneyDefinition.model_validate(definition),
                         settings.task_queue)
    return _out(journey, definition)


@router.post("/{journey_id}/activate", response_model=JourneyOut)
async def activate(journey_id: str, session: SessionDep, client: TemporalDep, settings: SettingsDep) -> JourneyOut:
    """Open enrollment; new runs take the newest version."""
    return await _change(journey_id, "activate", session, client, settings)


@router.post("/{journey_id}/pause", response_model=JourneyOut)
async def pause(journey_id: str, session: SessionDep, client: TemporalDep, settings: SettingsDep) -> JourneyOut:
    """Close enrollment; contacts already in the journey go on."""
    return await _change(journey_id, "pause", session, client, settings)


@router.post("/{journey_id}/archive", response_model=JourneyOut)
async def archive(journey_id: str, session: SessionDep, client: TemporalDep, settings: SettingsDep) -> JourneyOut:
    """Retire the journey for good."""
    return await _change(journey_id, "archive", session, client, settings)


@router.post("/{journey_id}/enrollments", response_model=EnrollResponse)
async def enroll(journey_id: str, body: EnrollRequest, session: SessionDep, client: TemporalDep,
                 settings: SettingsDep) -> EnrollResponse:
    """Enroll up to 1,000 contacts; a contact already in this journey keeps its existing run."""
    version, results = await journeys.enroll(session, client, settings.task_queue, journey_id, body.contacts)
    return EnrollResponse(journey_id=journey_id, version=version, results=[r.__dict__ for r in results])


@router.post("/{journey_id}/preview", response_model=PreviewOut)
async def preview(journey_id: str, body: PreviewRequest, session: SessionDep, settings: SettingsDep,
                  request: Request) -> PreviewOut:
    """Render a send node's message for one contact, on every channel it lists, without sending;
    and say which channel a send now would use (consent, suppression, addresses)."""
    journey = await journeys.get_journey(session, journey_id)
    version = body.version or journey.latest_version
    definition = JourneyDefinition.model_validate((await journeys.get_version(session, journey_id, version)).definition)
    node = definition.node_map().get(body.node)
    if not isinstance(node, SendNode):
        raise ApiError(422, "not_a_send_node", f"version {version} of '{journey_id}' has no send node '{body.node}'")
    contact = (await session.execute(select(Contact).where(Contact.external_id == body.contact))).scalar_one_or_none()
    if contact is None:
        raise not_found(f"contact '{body.contact}'")
    consents = {c.channel: c.status for c in (await session.execute(
        select(ContactConsent).where(ContactConsent.contact_id == contact.id))).scalars()}
    event = body.event and ContactEvent(event_id="preview", name=body.event.name, properties=body.event.properties,
                                        occurred_at=(body.event.occurred_at or utcnow()).isoformat())
    context = message_context(contact, journey_id, version, node.id, event)
    channels = request.app.state.render_channels
    messages, errors = {}, {}
    for name in node.channels:
        try:
            rendered = channels[name].render(node, context, uuid.uuid4(), contact)
        except TemplateRenderError as err:
            errors[name] = str(err)
            continue
        messages[name] = {"subject": rendered.subject, "payload": rendered.payload}
    chosen, refusals = choose_channel(node, contact, consents, settings.opt_in_channels)
    return PreviewOut(journey=journey_id, version=version, node=node.id, contact=body.contact, channel=chosen,
                      refusals=refusals, messages=messages, errors=errors)
