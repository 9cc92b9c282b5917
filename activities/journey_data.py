"""The journey's data activities, over `sojourn.services.journey_data`."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sojourn.contracts.errors import ErrorType
from sojourn.contracts.journey_data import (
    EVALUATE_CONDITIONS_ACTIVITY,
    NEXT_LOCAL_TIME_ACTIVITY,
    RECORD_RUN_END_ACTIVITY,
    TAG_CONTACT_ACTIVITY,
    EvaluateConditions,
    LocalTimeRequest,
    RunEnd,
    TagChange,
)
from sojourn.contracts.steps import RECORD_STEPS_ACTIVITY, RunSteps
from sojourn.services.journey_data import JourneyData, RunNotRecordedYet, UnreadableCondition


class JourneyDataActivities:
    def __init__(self, data: JourneyData) -> None:
        self._data = data

    @activity.defn(name=EVALUATE_CONDITIONS_ACTIVITY)
    async def evaluate_conditions(self, request: EvaluateConditions) -> list[bool]:
        try:
            return await self._data.evaluate_conditions(request.contact_id, request.filters,
                                                        datetime.fromisoformat(request.now))
        except UnreadableCondition as err:
            raise ApplicationError(str(err), type=ErrorType.INVALID_FILTER, non_retryable=True) from err

    @activity.defn(name=NEXT_LOCAL_TIME_ACTIVITY)
    async def next_local_time(self, request: LocalTimeRequest) -> str:
        due = await self._data.next_local_time(request.contact_id, request.at, datetime.fromisoformat(request.now),
                                               request.weekdays, request.time_zone)
        return due.isoformat()

    @activity.defn(name=TAG_CONTACT_ACTIVITY)
    async def tag_contact(self, change: TagChange) -> float | None:
        return await self._data.tag_contact(change)

    @activity.defn(name=RECORD_STEPS_ACTIVITY)
    async def record_steps(self, steps: RunSteps) -> None:
        await self._data.record_steps(steps)

    @activity.defn(name=RECORD_RUN_END_ACTIVITY)
    async def record_run_end(self, end: RunEnd) -> None:
        try:
            await self._data.record_run_end(end, activity.info().attempt)
        except RunNotRecordedYet as err:
            raise ApplicationError(str(err), type=ErrorType.RUN_NOT_RECORDED_YET) from err
