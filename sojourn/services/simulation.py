"""Simulating a journey for one contact: the journey interpreter runs as `SimulationWorkflow` on a
clock the Temporal server skips forward (per-workflow time skipping), with a script of the
contact's events and engagement; the answer is the path, every decision and every message as
it would be rendered. Nothing is sent or written (sojourn/services/simulated_decisions.py)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError
from temporalio.testing import TimeSkipper, TimeSkippingConfig

from sojourn.contracts.journey import ContactEvent, EngagementSignal, JourneyInput, simulation_workflow_id
from sojourn.contracts.simulation import (
    SIMULATION_WORKFLOW,
    ScriptStep,
    SimulatedContact,
    SimulationInput,
    SimulationResult,
)
from sojourn.data.models import utcnow
from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.nodes import SendNode
from sojourn.errors import Invalid, Unavailable, UpstreamFailed
from sojourn.services import contacts, journeys

# The answer is awaited this long (real time): a simulation that takes longer is stopped.
SIMULATION_TIMEOUT = timedelta(seconds=60)


class InvalidScript(Invalid):
    code = "invalid_script"


class SimulationUnavailable(Unavailable):
    code = "simulation_unavailable"


class SimulationFailed(UpstreamFailed):
    code = "simulation_failed"


@dataclass(kw_only=True)
class ScriptItem:
    """One line of a script, as the API or the CLI read it: after `after`, an event or an engagement."""

    after: timedelta
    event_name: str | None = None
    properties: dict | None = None
    engagement: str | None = None  # opened | clicked
    node: str | None = None
    url: str | None = None


class Simulations:
    def __init__(self, client: Client, task_queue: str, phone_region: str | None = None) -> None:
        # Every workflow started through this client has time skipping on, from its start.
        self._client = TimeSkipper(client, config=TimeSkippingConfig(enabled=True)).client
        self._task_queue = task_queue
        self._phone_region = phone_region  # a profile's phone number is read as a stored one's

    async def simulate(self, session: AsyncSession, journey_id: str, version: int | None,
                       contact_external_id: str | None, profile: dict | None,
                       script: list[ScriptItem], trigger: dict | None = None) -> dict[str, Any]:
        """`trigger` ({name, properties, occurred_at}) is the event that starts the run, if any."""
        chosen = await journeys.chosen_version(session, journey_id, version)
        version, raw = chosen.version, chosen.definition
        definition = JourneyDefinition.model_validate(raw)
        steps = _script(definition, version, script)
        if contact_external_id is not None:
            contact = await contacts.find(session, contact_external_id)
            simulated, contact_id, label = SimulatedContact(contact_id=contact.id), contact.id, contact_external_id
        else:
            profile = contacts.checked_fields(profile or {}, self._phone_region)
            simulated, contact_id, label = SimulatedContact(profile=profile), 0, "(profile)"
        await session.rollback()  # hold no connection while the simulation runs
        workflow_input = SimulationInput(
            journey=JourneyInput(journey_id=journey_id, version=version, contact_id=contact_id,
                                 contact_external_id=label, definition=raw, trigger=_trigger(trigger)),
            contact=simulated, script=steps)
        workflow_id = simulation_workflow_id(journey_id, contact_external_id, str(uuid.uuid4()))
        result = await self._run(workflow_id, workflow_input)
        return {**_answer(journey_id, version, label, result), "workflow_id": workflow_id}

    async def _run(self, workflow_id: str, workflow_input: SimulationInput) -> SimulationResult:
        try:
            handle = await self._client.start_workflow(
                SIMULATION_WORKFLOW, workflow_input, id=workflow_id, task_queue=self._task_queue,
                result_type=SimulationResult)
        except RPCError as err:
            raise SimulationUnavailable(f"the Temporal server cannot simulate: {err.message} (per-workflow time "
                                        "skipping needs frontend.WorkflowTimeSkippingEnabled)") from err
        try:
            return await asyncio.wait_for(handle.result(), SIMULATION_TIMEOUT.total_seconds())
        except TimeoutError:
            await handle.terminate("simulation took too long")
            raise SimulationUnavailable(
                f"the simulation did not finish within {SIMULATION_TIMEOUT.total_seconds():g} s") from None
        except WorkflowFailureError as err:
            raise SimulationFailed(f"the simulation failed: {err.cause or err}") from err


def _trigger(trigger: dict | None) -> ContactEvent | None:
    if trigger is None:
        return None
    return ContactEvent(event_id="simulation-trigger", name=trigger["name"], properties=trigger.get("properties") or {},
                        occurred_at=(trigger.get("occurred_at") or utcnow()).isoformat())


def _script(definition: JourneyDefinition, version: int, script: list[ScriptItem]) -> list[ScriptStep]:
    """The script in time order, each engagement checked against the version's send nodes."""
    nodes = definition.node_map()
    steps = []
    for index, item in enumerate(script):
        if item.engagement is not None:
            if not isinstance(nodes.get(item.node), SendNode):
                raise InvalidScript(f"script[{index}].engagement.node: version {version} has no send node "
                                    f"{item.node!r}", details=[{"field": f"script[{index}].engagement.node",
                                                               "message": "not a send node of this version",
                                                               "type": InvalidScript.code}])
            engagement = EngagementSignal(send_node=item.node, kind=item.engagement, url=item.url)
            steps.append(ScriptStep(after_seconds=item.after.total_seconds(), engagement=engagement))
        else:
            event = ContactEvent(event_id=f"simulation-{index}", name=item.event_name,
                                 properties=item.properties or {}, occurred_at="")
            steps.append(ScriptStep(after_seconds=item.after.total_seconds(), event=event))
    return sorted(steps, key=lambda step: step.after_seconds)


def _answer(journey_id: str, version: int, contact: str, result: SimulationResult) -> dict[str, Any]:
    state = result.state
    path = [asdict(step) for step in state.path]
    for step, following in zip(path, path[1:] + [None], strict=True):
        step["left_at"] = following["entered_at"] if following else result.ended_at
    return {
        "journey": journey_id, "version": version, "contact": contact, "status": state.status,
        "started_at": result.started_at, "ended_at": result.ended_at,
        "exit_reason": state.exit_reason, "converted_at": state.converted_at,
        "path": path,
        "decisions": [asdict(d) for d in result.decisions],
        "messages": [asdict(m) for m in result.messages],
    }
