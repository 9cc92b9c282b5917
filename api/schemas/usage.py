"""Usage: messages, billable units and cost."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class UsageRow(BaseModel):
    """The groups asked for (the others are left out), and their numbers."""

    day: dt.date | None = None
    channel: str | None = None
    journey: str | None = None
    status: str | None = None
    messages: int
    units: int = Field(description="Billable units of the messages that went out or may have: an SMS's segments, "
                                   "1 for any other message.")
    cost: float = Field(description="Those units at the prices in force when each message went.")


class UsageTotal(BaseModel):
    messages: int
    units: int
    cost: float


class UsageOut(BaseModel):
    from_: dt.datetime = Field(alias="from")
    to: dt.datetime
    group_by: list[str]
    currency: str
    rows: list[UsageRow]
    total: UsageTotal

    model_config = ConfigDict(populate_by_name=True)
