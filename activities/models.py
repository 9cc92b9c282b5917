"""The nightly models activities, over `sojourn.services.model_steps`: which day a nightly run is
for, which steps it takes, and one step run with heartbeats that carry its progress."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from sojourn.contracts.errors import ErrorType
from sojourn.contracts.models import (
    NIGHTLY_DAY_ACTIVITY,
    PLAN_MODELS_ACTIVITY,
    RUN_MODEL_STEP_ACTIVITY,
    ModelRun,
    ModelsRequest,
    ModelStepRequest,
)
from sojourn.data.tag_rules import day_that_ended
from sojourn.errors import Invalid
from sojourn.services.model_steps import listen_for_progress, planned, run_step
from sojourn.settings import Settings

# Well inside MODEL_STEP_OPTIONS' heartbeat timeout, so a step only times out once its worker is gone.
HEARTBEAT_EVERY = 10.0


class ModelsActivities:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    @activity.defn(name=NIGHTLY_DAY_ACTIVITY)
    async def nightly_day(self, instant: str) -> str:
        return day_that_ended(datetime.fromisoformat(instant), self._settings.brand_time_zone).isoformat()

    @activity.defn(name=PLAN_MODELS_ACTIVITY)
    async def plan_models(self, request: ModelsRequest) -> list[str]:
        try:
            return planned(request.steps)
        except Invalid as err:
            raise ApplicationError(str(err), type=ErrorType.MODEL_STEP_INVALID, non_retryable=True) from err

    @activity.defn(name=RUN_MODEL_STEP_ACTIVITY)
    async def run_model_step(self, request: ModelStepRequest) -> ModelRun:
        started = time.monotonic()
        progress = listen_for_progress()  # before the task: it copies this context
        day = date.fromisoformat(request.day)
        step = asyncio.create_task(run_step(self._engine, self._settings, request.step, day))
        try:
            while not step.done():
                await asyncio.wait({step}, timeout=HEARTBEAT_EVERY)
                activity.heartbeat({"step": request.step, "seconds": round(time.monotonic() - started, 1), **progress})
            run = step.result()
        except Invalid as err:
            raise ApplicationError(str(err), type=ErrorType.MODEL_STEP_INVALID, non_retryable=True) from err
        finally:
            step.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await step
        return run
