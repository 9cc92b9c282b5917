"""Simulating a journey for one contact, on a skipped clock, without sending or writing anything."""

from __future__ import annotations

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.routing import resource_router
from api.schemas.common import ResourceId
from api.schemas.simulation import SimulateRequest, SimulationOut
from sojourn.dsl.durations import parse_duration
from sojourn.services.simulation import ScriptItem, Simulations

router = resource_router(prefix="/v1/journeys", tags=["journeys"])


@router.post("/{journey_id}/simulate", response_model=SimulationOut)
async def simulate(journey_id: ResourceId, body: SimulateRequest, session: SessionDep, client: TemporalDep,
                   settings: SettingsDep) -> dict:
    """Run the journey's interpreter for a stored contact or a profile, with a script of events and
    engagement at offsets, on a clock that skips ahead: the path with its (virtual) times, every
    decision and its reason, and every message as it would be rendered. Nothing is sent or recorded."""
    script = [ScriptItem(after=parse_duration(line.at),
                         event_name=line.event.name if line.event else None,
                         properties=line.event.properties if line.event else None,
                         engagement=line.engagement.kind if line.engagement else None,
                         node=line.engagement.node if line.engagement else None,
                         url=line.engagement.url if line.engagement else None) for line in body.script]
    profile = body.contact.model_dump(exclude_none=True) if body.contact else None
    return await Simulations(client, settings.task_queue).simulate(
        session, journey_id, body.version, body.contact_id, profile, script)
