"""Usage: what journeys sent, in billable units and cost."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from api.deps import SessionDep, SettingsDep
from api.routing import resource_router
from api.schemas.usage import UsageOut
from sojourn.data.models import utcnow
from sojourn.services import usage

router = resource_router(prefix="/v1/usage", tags=["usage"])


@router.get("", response_model=UsageOut, response_model_exclude_none=True)
async def get_usage(session: SessionDep, settings: SettingsDep,
                    from_: Annotated[str | None, Query(alias="from", max_length=40, description="2026-11-01")] = None,
                    to: Annotated[str | None, Query(max_length=40, description="2026-11-30 (its whole day)")] = None,
                    group_by: Annotated[str, Query(max_length=100, description="any of day,channel,journey,status")]
                    = "day,channel") -> dict:
    """Messages, billable units (an SMS's segments, else 1) and cost by the groups asked for, over
    [from, to) in UTC (by default the last 30 days). Test sends are not counted."""
    since, until = usage.time_range(from_, to, utcnow())
    return await usage.usage(session, since, until, usage.groups(group_by), settings.usage_currency)
