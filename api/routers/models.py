"""Predictive models: the versions fitted and how they did, and the nightly runs that fit them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Query

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.routing import conflict, resource_router
from api.schemas.models import ModelRunOut, ModelRunRequest, ModelRunStarted, ModelVersionOut
from sojourn.data.predictions import PredictionModel
from sojourn.services import nightly_models, prediction_models

router = resource_router(prefix="/v1/models", tags=["models"])


@router.get("", response_model=list[ModelVersionOut])
async def list_model_versions(session: SessionDep,
                              name: Annotated[str | None, Query(max_length=64)] = None) -> list[PredictionModel]:
    """Every fitted version (newest first within each model; at most 200), or one model's (`?name=ltv`)."""
    return await prediction_models.versions(session, name)


@router.get("/runs", response_model=list[ModelRunOut])
async def list_model_runs(client: TemporalDep, day: date | None = None,
                          limit: Annotated[int, Query(ge=1, le=100)] = nightly_models.RUNS_LISTED,
                          ) -> list[dict[str, Any]]:
    """The nightly models runs, newest first (or one day's, `?day=`), from Temporal: each step's
    outcome (the ModelRun it reported), its duration, and the running step's last heartbeat."""
    return await nightly_models.list_runs(client, day, limit)


@router.post("/runs", status_code=202, response_model=ModelRunStarted,
             responses=conflict("That day's run is running."))
async def start_model_run(body: ModelRunRequest, client: TemporalDep, settings: SettingsDep) -> dict[str, Any]:
    """Run the model steps for a day now (in the background; follow it with `GET /v1/models/runs?day=`).
    Each step is idempotent for its day: a day run again changes only what its data changed."""
    return await nightly_models.start_run(client, settings.task_queue, settings.brand_time_zone, body.day, body.steps)
