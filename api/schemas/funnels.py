"""A journey's funnel: per node and for the whole journey."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class ByReason(BaseModel):
    total: int
    by_reason: dict[str, int]


class Engaged(BaseModel):
    unique: int = Field(description="Messages with at least one.")
    total: int


class SendFunnel(BaseModel):
    sent: int
    unconfirmed: int
    skipped: ByReason
    failed: int
    deferred: int = Field(description="Runs resting at the node now, their message held until later.")
    delivered: int
    opens: Engaged
    clicks: Engaged
    bounces: int
    complaints: int
    unsubscribes: int = Field(description="Messages the contact unsubscribed through: the link or one-click, a "
                                          "provider's report, or a STOP reply to a text (each message once).")
    conversions: int = Field(description="Conversions attributed to this node: the last message of the journey "
                                         "the contact received before the goal event.")
    revenue: float | None = Field(description="Their goal values' sum, when the goal names a value.")


class NodeFunnel(BaseModel):
    id: str
    type: str
    entered: int = Field(description="Visits: a run that comes back to the node counts each time.")
    here: int = Field(description="Runs at the node now.")
    left: dict[str, int] = Field(description="Runs that left, by way out: a branch's then/else/case N/default, "
                                             "a wait_for's event/timeout, a send's sent/unconfirmed/skipped/failed, "
                                             "late, exited, cancelled; `next` for a node's only way.")
    send: SendFunnel | None = None


class JourneyFunnel(BaseModel):
    entered: int
    active: int
    completed: int
    cancelled: int
    exited: ByReason
    converted: int = Field(description="Runs whose goal event came within the goal's window after they entered.")
    conversion_rate: float | None
    revenue: float | None = Field(description="The sum of the conversions' goal values, when the goal names a value.")


class FunnelOut(BaseModel):
    journey_id: str
    version: int | None
    from_: dt.datetime | None = Field(alias="from")
    to: dt.datetime | None
    journey: JourneyFunnel
    nodes: list[NodeFunnel]

    model_config = ConfigDict(populate_by_name=True)
