"""Predictive models: read-only, the versions fitted and how they did."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from api.deps import SessionDep
from api.routing import resource_router
from api.schemas.models import ModelVersionOut
from sojourn.data.predictions import PredictionModel
from sojourn.services import prediction_models

router = resource_router(prefix="/v1/models", tags=["models"])


@router.get("", response_model=list[ModelVersionOut])
async def list_model_versions(session: SessionDep,
                              name: Annotated[str | None, Query(max_length=64)] = None) -> list[PredictionModel]:
    """Every fitted version (newest first within each model; at most 200), or one model's (`?name=ltv`)."""
    return await prediction_models.versions(session, name)
