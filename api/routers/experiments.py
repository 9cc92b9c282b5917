"""A journey's experiments: split arms and holdout against their controls, from recorded counts."""

from __future__ import annotations

from api.deps import SessionDep, SettingsDep
from api.routing import resource_router
from api.schemas.common import ResourceId
from api.schemas.experiments import ExperimentsOut
from sojourn.services import experiment_results

router = resource_router(prefix="/v1/journeys", tags=["journeys"])


@router.get("/{journey_id}/experiments", response_model=ExperimentsOut)
async def get_experiments(journey_id: ResourceId, session: SessionDep, settings: SettingsDep) -> dict:
    """Per split arm and for the holdout: entrants and conversions (contacts), the conversion rate
    with its 95% interval, the difference against the control (the holdout, else the split's first
    arm) with its interval and p-value, revenue per entrant, and warnings while groups are small.
    Contacts in the brand's control group (GLOBAL_CONTROL_PERCENT) are left out."""
    return await experiment_results.experiments(session, journey_id, settings.global_control_percent)
