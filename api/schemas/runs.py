"""A contact's runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class RetryingOut(BaseModel):
    node: str | None = Field(description="The node whose activity is retried (a send during a provider's outage).")
    activity: str
    attempt: int = Field(description="The attempt running now or due next; those before it failed.")
    last_error: str
    last_failed_at: str | None
    next_attempt_at: str | None = Field(description="When the next attempt is due; null while one runs.")


class RunOut(BaseModel):
    workflow_id: str
    run_id: str | None
    journey_id: str
    version: int
    contact: str
    execution_status: str
    state: dict[str, Any] | None
    retrying: list[RetryingOut] = Field(default_factory=list, description=(
        "Activities of the run that failed and are being retried, with their last error."))
    delivery: Literal["run", "batch"] = Field("run", description=(
        "batch: delivered by an enrollment's batched send, with no workflow of its own (`run_id` is null)."))
