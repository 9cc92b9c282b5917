"""The audit log: every change to journeys, segments, tag rules, consent and contacts (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime

from api.deps import ADMIN, SessionDep
from api.routing import resource_router
from api.schemas.audit import AuditEntryOut, ResourceType
from api.schemas.common import Page
from sojourn.data.ingest.text import EXTERNAL_ID_MAX
from sojourn.services import audit

router = resource_router(prefix="/v1/audit", tags=["audit"], dependencies=[ADMIN])


@router.get("", response_model=Page[AuditEntryOut])
async def audit_log(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
                    resource_type: ResourceType | None = None,
                    resource_id: Annotated[str | None, Query(min_length=1, max_length=EXTERNAL_ID_MAX)] = None,
                    since: Annotated[AwareDatetime | None, Query(description="2026-11-20T00:00:00Z")] = None) -> dict:
    """Changes in the order they were made: who (an API key's fingerprint, never the key), what,
    which resource, when, and a short summary."""
    return await audit.page(session, limit, int(cursor) if cursor else None, resource_type, resource_id, since)
