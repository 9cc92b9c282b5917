"""Simulations and test sends of a journey."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from api.schemas.common import INT32_MAX, StrictIn
from api.schemas.contacts import ContactIn
from sojourn.dsl.durations import Duration


class ScriptEvent(StrictIn):
    name: str = Field(min_length=1, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)


class ScriptEngagement(StrictIn):
    kind: Literal["opened", "clicked"]
    node: str = Field(min_length=1, max_length=64, description="A send node of the simulated version.")
    url: str | None = Field(None, max_length=2000, description="The link clicked (for `clicked`).")


class ScriptLine(StrictIn):
    at: Duration = Field(description="When, from the start of the run: `3h`, `4d`, `P1DT2H`.")
    event: ScriptEvent | None = None
    engagement: ScriptEngagement | None = None

    @model_validator(mode="after")
    def _one_thing(self) -> ScriptLine:
        if (self.event is None) == (self.engagement is None):
            raise ValueError("a script line has exactly one of `event` and `engagement`")
        return self


class ContactChoice(StrictIn):
    contact_id: str | None = Field(None, min_length=1, max_length=255, description="A stored contact's external id.")
    contact: ContactIn | None = Field(None, description="A contact stored nowhere: its profile and consent.")

    @model_validator(mode="after")
    def _one_contact(self) -> ContactChoice:
        if (self.contact_id is None) == (self.contact is None):
            raise ValueError("give exactly one of `contact_id` (a stored contact) and `contact` (a profile)")
        return self


class SimulatedTrigger(StrictIn):
    name: str = Field(min_length=1, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)
    occurred_at: AwareDatetime | None = Field(None, description="Defaults to now; earlier makes waits relative "
                                                                "to the event start late.")


class SimulateRequest(ContactChoice):
    version: int | None = Field(None, ge=1, le=INT32_MAX, description="Defaults to the latest version.")
    trigger: SimulatedTrigger | None = Field(None, description="The event that starts the run (`{{ event }}` in "
                                                               "templates, waits `relative_to: event`).")
    script: list[ScriptLine] = Field(default_factory=list, max_length=200)


class SimulatedStep(BaseModel):
    node: str
    type: str
    entered_at: str
    left_at: str | None
    outcome: str | None


class SimulatedDecision(BaseModel):
    at: str
    node: str | None
    kind: str = Field(description="branch, wait_for, deferred, skipped, failed, late, tag, event, engagement, ignored")
    outcome: str
    reason: str | None


class SimulatedMessageOut(BaseModel):
    node: str
    at: str | None
    status: str = Field(description="What a real send would have done: sent, skipped or failed.")
    channel: str | None
    recipient: str | None
    subject: str | None
    payload: Any = Field(description="What the provider would receive (email: from, html, text).")
    reason: str | None


class SimulationOut(BaseModel):
    workflow_id: str = Field(description="The simulation's workflow in Temporal (its history, for a closer look).")
    journey: str
    version: int
    contact: str
    status: str
    started_at: str = Field(description="Virtual times start now and move as the run would.")
    ended_at: str
    exit_reason: str | None
    converted_at: str | None
    path: list[SimulatedStep]
    decisions: list[SimulatedDecision]
    messages: list[SimulatedMessageOut]


class TestSendRequest(ContactChoice):
    to: str = Field(min_length=1, max_length=4096, description="Where the test goes: an email address, a phone "
                    "number, a device token or a LINE user id, as the channel takes.")
    channel: str | None = Field(None, max_length=16, description="One the node lists; defaults to its first.")
    version: int | None = Field(None, ge=1, le=INT32_MAX, description="Defaults to the latest version.")


class TestSendOut(BaseModel):
    journey: str
    version: int
    node: str
    contact: str
    channel: str
    to: str
    status: str
    message_id: str | None = Field(description="The test message as recorded (null for a profile: not recorded).")
    recorded: bool
    subject: str | None
    payload: Any
