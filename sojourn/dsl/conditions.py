"""What `wait_for` and `branch` nodes (and a journey's exits and goal) decide on: engagement
with an earlier send, events the contact performs, and, for branches, any filter."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, model_validator

from sojourn.dsl.filters import Filter, PropertyCondition
from sojourn.dsl.strict import Strict

Engagement = Literal["opened", "clicked"]


class EngagementCondition(Strict):
    """True when the contact opened (or clicked, optionally one link in) an earlier send."""

    opened: str | None = None
    clicked: str | None = None
    link: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> EngagementCondition:
        if (self.opened is None) == (self.clicked is None):
            raise ValueError("a condition names exactly one of `opened` or `clicked`")
        if self.link is not None and self.clicked is None:
            raise ValueError("`link` only applies to `clicked`")
        return self

    @property
    def kind(self) -> Engagement:
        return "opened" if self.opened is not None else "clicked"

    @property
    def send_node(self) -> str:
        return self.opened if self.opened is not None else self.clicked  # type: ignore[return-value]


class EventCondition(Strict):
    """An event the contact performs, with conditions on its properties."""

    event: Annotated[str, Field(min_length=1, max_length=200)]
    where: list[PropertyCondition] = []


def _condition_kind(value) -> str | None:
    if isinstance(value, BaseModel):
        return "engagement" if isinstance(value, EngagementCondition) else "event"
    if isinstance(value, dict):
        return "engagement" if ("opened" in value or "clicked" in value) else "event"
    return None


WaitCondition = Annotated[
    Annotated[EngagementCondition, Tag("engagement")] | Annotated[EventCondition, Tag("event")],
    Discriminator(_condition_kind),
]


def _when_kind(value) -> str | None:
    if isinstance(value, EngagementCondition) or (isinstance(value, dict) and ("opened" in value or "clicked" in value)):
        return "engagement"
    return "filter" if isinstance(value, (dict, BaseModel)) else None


BranchCondition = Annotated[
    Annotated[EngagementCondition, Tag("engagement")] | Annotated[Filter, Tag("filter")],
    Discriminator(_when_kind),
]
