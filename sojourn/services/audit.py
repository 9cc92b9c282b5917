"""The audit log as the API pages it: oldest first, by resource and time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.models import AuditEntry
from sojourn.services.pagination import keyset_page


async def page(session: AsyncSession, limit: int, cursor: int | None, resource_type: str | None = None,
               resource_id: str | None = None, since: datetime | None = None) -> dict[str, Any]:
    """Entries in the order they were made, after `cursor` (an entry id), filtered when asked."""
    query = select(AuditEntry)
    if resource_type is not None:
        query = query.where(AuditEntry.resource_type == resource_type)
    if resource_id is not None:
        query = query.where(AuditEntry.resource_id == resource_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    found = await keyset_page(session, query, AuditEntry.id, limit, cursor)
    next_cursor = found["next_cursor"]
    return {**found, "next_cursor": None if next_cursor is None else str(next_cursor)}
