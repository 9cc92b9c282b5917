"""Tagging rules."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.common import StrictIn
from sojourn.data.tag_rules import Weight


class TagRuleIn(StrictIn):
    tag: str = Field(min_length=1, max_length=100)
    filter: dict[str, Any] = Field(description="Who carries the tag: a filter of the segment language.")
    weight: Weight


class TagRuleRunOut(BaseModel):
    day: str
    tagged: int
    changed: int
    removed: int
    started_at: Any
    finished_at: Any


class TagRuleOut(BaseModel):
    id: str
    tag: str
    filter: dict[str, Any]
    weight: dict[str, Any]
    runs: list[TagRuleRunOut] = Field(description="The latest runs, newest first.")


class TagRuleRunRequest(StrictIn):
    day: date | None = Field(None, description="The day to analyse (events up to its end); default: yesterday.")
