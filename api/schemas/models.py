"""Predictive models: their fitted versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ModelVersionOut(BaseModel):
    name: str = Field(description="The model: `ltv` (BG/NBD and Gamma-Gamma lifetime value)...")
    version: int
    as_of: datetime = Field(description="Fitted on the data before this time; one version per model and day.")
    params: dict[str, Any] = Field(description="The fitted parameters and the settings they were fitted with.")
    metrics: dict[str, Any]
    trained_at: datetime
    used: bool = Field(description="Whether its predictions were stored; if not, `reason` says why.")
    reason: str | None
