"""A journey's funnel: what its runs did at each node, counted from what they recorded."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from api.deps import SessionDep
from api.routing import resource_router
from api.schemas.common import INT32_MAX, ResourceId
from api.schemas.funnels import FunnelOut
from sojourn.services import funnels

router = resource_router(prefix="/v1/journeys", tags=["journeys"])


@router.get("/{journey_id}/funnel", response_model=FunnelOut)
async def get_funnel(journey_id: ResourceId, session: SessionDep,
                     version: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
                     from_: Annotated[str | None, Query(alias="from", max_length=40, description="2026-11-01")] = None,
                     to: Annotated[str | None, Query(max_length=40, description="2026-11-30 (its whole day)")]
                     = None) -> dict:
    """Per node: runs that entered, are there now, and left by each way out; for send nodes what
    their messages did; for the journey: runs by status and exit reason, conversions. Counts the
    runs that entered the journey in [from, to) (UTC; all by default), of one version or all."""
    return await funnels.funnel(session, funnels.scope(journey_id, version, from_, to))
