"""Trying a journey out: a simulation for one contact on a skipped clock (nothing sent or written),
and a test send of one node's message to the tester's own address."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.routing import resource_router
from api.schemas.common import ResourceId
from api.schemas.simulation import SimulateRequest, SimulationOut, TestSendOut, TestSendRequest
from sojourn.dsl.durations import parse_duration
from sojourn.services.simulation import ScriptItem, Simulations
from sojourn.services.test_sends import TestSends
from sojourn.settings import Settings

router = resource_router(prefix="/v1/journeys", tags=["journeys"])


@router.post("/{journey_id}/simulate", response_model=SimulationOut)
async def simulate(journey_id: ResourceId, body: SimulateRequest, session: SessionDep, client: TemporalDep,
                   settings: SettingsDep) -> dict:
    """Run the journey's interpreter for a stored contact or a profile, with a script of events and
    engagement at offsets, on a clock that skips ahead: the path with its (virtual) times, every
    decision and its reason, and every message as it would be rendered. Nothing is sent or recorded."""
    return await run_simulation(journey_id, body, session, client, settings)


async def run_simulation(journey_id: str, body: SimulateRequest, session: AsyncSession, client: Client,
                         settings: Settings) -> dict:
    """A simulation as POST /v1/journeys/{id}/simulate asks for it (the console's too)."""
    script = [ScriptItem(after=parse_duration(line.at),
                         event_name=line.event.name if line.event else None,
                         properties=line.event.properties if line.event else None,
                         engagement=line.engagement.kind if line.engagement else None,
                         node=line.engagement.node if line.engagement else None,
                         url=line.engagement.url if line.engagement else None) for line in body.script]
    profile = body.contact.model_dump(exclude_none=True) if body.contact else None
    trigger = body.trigger.model_dump() if body.trigger else None
    return await Simulations(client, settings.task_queue, settings.default_phone_region).simulate(
        session, journey_id, body.version, body.contact_id, profile, script, trigger)


@router.post("/{journey_id}/nodes/{node_id}/test-send", response_model=TestSendOut)
async def test_send(journey_id: ResourceId, node_id: ResourceId, body: TestSendRequest, session: SessionDep,
                    settings: SettingsDep) -> dict:
    """Send one send node's message, rendered for a stored contact or a profile, through its real
    channel to `to`; recorded (for a stored contact) as a test, which no cap, budget, usage or
    funnel counts."""
    profile = body.contact.model_dump(exclude_none=True) if body.contact else None
    return await TestSends(settings).send(session, journey_id, body.version, node_id, body.contact_id, profile,
                                          body.to, body.channel)
