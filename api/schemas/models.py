"""Predictive models: their fitted versions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class ModelVersionOut(BaseModel):
    name: str = Field(description="The model: `ltv` (BG/NBD and Gamma-Gamma lifetime value)...")
    version: int
    as_of: datetime = Field(description="Fitted on the data before this time; one version per model and day.")
    params: dict[str, Any] = Field(description="The fitted parameters and the settings they were fitted with.")
    metrics: dict[str, Any]
    trained_at: datetime
    used: bool = Field(description="Whether its predictions were stored; if not, `reason` says why.")
    reason: str | None


class ModelRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date | None = Field(None, description="Fit on the data up to the end of this day (BRAND_TIME_ZONE); "
                                               "default: the day that just ended.")
    steps: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=50, description="Only these steps (`ltv`...); default: every step, in the nightly order.")


class ModelRunStarted(BaseModel):
    id: str = Field(description="The run's workflow id, `models/YYYY-MM-DD`.")
    run_id: str | None
    day: date
    status: str


class ModelStepResultOut(BaseModel):
    model: str
    version: int | None = Field(description="The version it stored; None when no version could be used (`reason`).")
    contacts: int
    changed: int = Field(description="Stored values that changed: 0 when the day is run again on the same data.")
    reason: str | None
    metrics: dict[str, Any]


class ModelStepOut(BaseModel):
    step: str
    status: str = Field(description="`done`, or `failed` with `error` (the next steps ran all the same).")
    started_at: datetime
    seconds: float
    result: ModelStepResultOut | None
    error: str | None


class ModelRunCurrent(BaseModel):
    step: str
    heartbeat: Any = Field(description="The step's last heartbeat: how far it is (`seconds`, `stage`...).")


class ModelRunOut(BaseModel):
    id: str
    run_id: str
    day: date
    status: str = Field(description="`running`, `completed`, `completed_with_failures` (a step failed), or how "
                                    "Temporal ended the run (`failed`, `terminated`, `timed_out`...).")
    started_at: datetime
    finished_at: datetime | None
    seconds: float | None
    planned: list[str] = Field(description="The steps the run takes, in order.")
    steps: list[ModelStepOut] = Field(description="The steps finished so far, in order.")
    current: ModelRunCurrent | None
