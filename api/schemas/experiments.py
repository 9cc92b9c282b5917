"""A journey's experiments: its split arms and its holdout, each against its control."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Difference(BaseModel):
    value: float = Field(description="This group's conversion rate minus its control's.")
    interval: tuple[float, float] = Field(description="Newcombe's hybrid score interval at `confidence`.")
    p_value: float = Field(description="Fisher's exact test, two-sided.")


class ExperimentGroup(BaseModel):
    group: str = Field(description="An arm id, `holdout` or `treated` (the journey's entrants not held out).")
    node: str | None = Field(description="The split node of an arm.")
    entrants: int = Field(description="Contacts (not runs) in the group.")
    conversions: int = Field(description="Of them, contacts with a conversion in the journey.")
    conversion_rate: float | None
    interval: tuple[float, float] | None = Field(description="Wilson's score interval of the rate at `confidence`.")
    revenue_per_entrant: float | None
    against: str | None = Field(description="The control group this one is compared with.")
    difference: Difference | None
    too_small: bool = Field(description="Fewer than 100 entrants, or fewer than 10 conversions or non-conversions.")


class HoldoutResult(BaseModel):
    percent: float | None = Field(description="The newest version's holdout.")
    control: ExperimentGroup
    treated: ExperimentGroup


class SplitResult(BaseModel):
    node: str
    control: str = Field(description="`holdout` when the journey has one, else the first arm.")
    arms: list[ExperimentGroup]


class ExperimentsOut(BaseModel):
    journey_id: str
    confidence: float
    holdout: HoldoutResult | None
    splits: list[SplitResult]
    warnings: list[str] = Field(description="Groups too small to rely on yet.")
