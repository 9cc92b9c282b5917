from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from api.deps import SessionDep
from api.errors import not_found
from api.pagination import keyset_page
from api.schemas import ContactIn, ContactOut, Page
from sojourn.models import Contact, utcnow

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])


@router.put("/{external_id}", response_model=ContactOut, responses={201: {"model": ContactOut}})
async def upsert_contact(external_id: str, body: ContactIn, session: SessionDep, response: Response) -> Contact:
    """Create the contact, or update the fields given and merge the attributes."""
    contact = (await session.execute(
        select(Contact).where(Contact.external_id == external_id).with_for_update())).scalar_one_or_none()
    if contact is None:
        contact = Contact(external_id=external_id)
        response.status_code = 201
    for field in body.model_fields_set - {"attributes"}:
        setattr(contact, field, getattr(body, field))
    contact.attributes = {**contact.attributes, **body.attributes}
    contact.updated_at = utcnow()
    session.add(contact)
    await session.commit()
    return contact


@router.get("/{external_id}", response_model=ContactOut)
async def get_contact(external_id: str, session: SessionDep) -> Contact:
    contact = (await session.execute(select(Contact).where(Contact.external_id == external_id))).scalar_one_or_none()
    if contact is None:
        raise not_found(f"contact '{external_id}'")
    return contact


@router.get("", response_model=Page[ContactOut])
async def list_contacts(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        cursor: str | None = None) -> dict:
    return await keyset_page(session, select(Contact), Contact.external_id, limit, cursor)
