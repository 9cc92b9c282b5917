"""A contact's runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class RunOut(BaseModel):
    workflow_id: str
    run_id: str | None
    journey_id: str
    version: int
    contact: str
    execution_status: str
    state: dict[str, Any] | None
    delivery: Literal["run", "batch"] = Field("run", description=(
        "batch: delivered by an enrollment's batched send, with no workflow of its own (`run_id` is null)."))
