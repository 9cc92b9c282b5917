"""Contacts: upsert, streamed import, profile, list, erasure."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from api.deps import ADMIN, INGEST, CallerDep, EngineDep, SessionDep, SettingsDep, TemporalDep, TriggersDep
from api.errors import ApiError
from api.routing import conflict, resource_router
from api.schemas.common import ExternalId, Page
from api.schemas.contacts import ContactIn, ContactOut, ContactProfile, ImportResult
from api.schemas.runs import RunOut
from sojourn.data.models import Contact
from sojourn.services import contacts, runs

router = resource_router(prefix="/v1/contacts", tags=["contacts"])

# A contact's own routes take its id as `{external_id:path}`: ids are refused a '/' today, but events
# created contacts whose ids have one before that rule, and those must stay reachable and erasable
# (`/v1/contacts/a%2Fb`, `/v1/contacts/a%2Fb/runs`: the longer routes come first). A new id with a
# '/' gets the 422 that names the rule.

IMPORT_TYPES = {"text/csv": "csv", "application/csv": "csv", "application/x-ndjson": "ndjson",
                 "application/ndjson": "ndjson", "application/jsonl": "ndjson", "application/x-jsonlines": "ndjson"}


@router.post("/import", response_model=ImportResult, openapi_extra={"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}, "example": "external_id,email,first_name,plan\nc-1,ann@example.com,Ann,gold\n"},
    "application/x-ndjson": {"schema": {"type": "string"},
                             "example": '{"external_id": "c-1", "email": "ann@example.com", "plan": "gold", "visits": 3}\n'},
}}}, responses={415: {"description": "Not CSV or NDJSON."}, 422: {"description": "No usable CSV header."}},
             dependencies=[INGEST])
async def import_contact_file(request: Request, engine: EngineDep, triggers: TriggersDep,
                              settings: SettingsDep) -> dict:
    """Upsert contacts from a CSV (`text/csv`, first line names the columns) or NDJSON
    (`application/x-ndjson`, one object per line) body, streamed: 100,000s of rows are fine.

    Rows are matched by `external_id`; `email`, `phone`, `first_name`, `last_name` and
    `time_zone` are contact fields, every other column is merged into the attributes (CSV
    values are strings and empty cells are skipped; NDJSON keeps JSON types). An absent
    or empty value leaves the stored one as it is. Phone numbers are stored in E.164 (see
    `PUT /v1/contacts/{external_id}`). Bad rows are listed by line number and
    reason; the others are loaded, committed in chunks of 10,000 (re-running is safe)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = IMPORT_TYPES.get(content_type)
    if fmt is None:
        raise ApiError(415, "unsupported_media_type",
                       f"send the file as text/csv or application/x-ndjson, not '{content_type or 'nothing'}'")
    return (await contacts.import_file(engine, triggers, request.stream(), fmt,
                                       settings.default_phone_region)).as_dict()


@router.put("/{external_id:path}", response_model=ContactOut, dependencies=[INGEST], responses={
    201: {"model": ContactOut}, **conflict("The line_user_id belongs to another contact.")})
async def upsert_contact(external_id: ExternalId, body: ContactIn, session: SessionDep, triggers: TriggersDep,
                         settings: SettingsDep, response: Response, caller: CallerDep) -> Contact:
    """Create the contact, or update the fields given and merge the attributes. The phone number
    is stored in E.164 (without a country code it is read in `DEFAULT_PHONE_REGION`); an
    invalid phone number or email address is a 422 naming the field."""
    fields = {name: getattr(body, name) for name in body.model_fields_set - {"attributes", "consent"}}
    contact, created = await contacts.upsert(session, triggers, external_id, fields, body.attributes, body.consent,
                                             settings.default_phone_region, actor=caller.name)
    if created:
        response.status_code = 201
    return contact


@router.get("/{external_id:path}/runs", response_model=list[RunOut])
async def contact_runs(external_id: ExternalId, session: SessionDep, client: TemporalDep) -> list[dict]:
    """Every journey the contact was enrolled in, newest first."""
    return await runs.contact_runs(session, client, external_id)


@router.get("/{external_id:path}", response_model=ContactProfile)
async def get_contact(external_id: ExternalId, session: SessionDep) -> dict:
    """The contact's profile: fields and attributes, tags with weights, the latest events and
    messages (with open and click counts), and its journeys, active and past."""
    return await contacts.profile(session, external_id)


@router.delete("/{external_id:path}", status_code=204, dependencies=[ADMIN],
               responses={404: {"description": "No such contact."},
                          502: {"description": "A run could not be cancelled."}})
async def erase_contact(external_id: ExternalId, session: SessionDep, client: TemporalDep,
                        caller: CallerDep) -> Response:
    """Right to be forgotten: cancel the contact's active runs, then delete the contact and,
    by cascade, its events, tags, messages, engagement and runs. If a run cannot be
    cancelled (Temporal unreachable) nothing is deleted and the call can be repeated."""
    await contacts.erase(session, client, external_id, actor=caller.name)
    return Response(status_code=204)


@router.get("", response_model=Page[ContactOut])
async def list_contacts(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        cursor: str | None = None) -> dict:
    return await contacts.page(session, limit, cursor)
