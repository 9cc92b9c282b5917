"""A contact's run of a journey: where it is, and cancelling it (every run of a contact: contacts.py)."""

from __future__ import annotations

from api.deps import SessionDep, TemporalDep
from api.routing import conflict, resource_router
from api.schemas.common import ExternalId, ResourceId
from api.schemas.runs import RunOut
from sojourn.services import runs

router = resource_router(tags=["runs"])


@router.get("/v1/journeys/{journey_id}/runs/{external_id:path}", response_model=RunOut)
async def get_run(journey_id: ResourceId, external_id: ExternalId, session: SessionDep, client: TemporalDep) -> dict:
    """Where the contact is in the journey: current node, path with times, wait deadline, messages."""
    return await runs.run_state(session, client, journey_id, external_id)


@router.delete("/v1/journeys/{journey_id}/runs/{external_id:path}", status_code=202, response_model=RunOut,
                responses=conflict("The run has ended."))
async def cancel_run(journey_id: ResourceId, external_id: ExternalId, session: SessionDep, client: TemporalDep) -> dict:
    """Stop the run; nothing more is sent to the contact by it."""
    return await runs.cancel(session, client, journey_id, external_id)
