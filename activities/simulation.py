"""The simulation workflow's activities, over `sojourn.services.simulated_decisions`: they decide
and render as a real run's activities would, and write nothing."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sojourn.contracts.errors import ErrorType
from sojourn.contracts.experiments import ArmRequest
from sojourn.contracts.journey_data import BestTime
from sojourn.contracts.simulation import (
    SIMULATE_ARM_ACTIVITY,
    SIMULATE_BEST_TIME_ACTIVITY,
    SIMULATE_CONDITIONS_ACTIVITY,
    SIMULATE_LOCAL_TIME_ACTIVITY,
    SIMULATE_SEND_ACTIVITY,
    SIMULATE_TAG_ACTIVITY,
    SimulateBestTime,
    SimulateConditions,
    SimulatedSendResult,
    SimulateLocalTime,
    SimulateSend,
    SimulateTag,
)
from sojourn.dsl.templating import TemplateRenderError
from sojourn.services.contacts import ContactNotFound
from sojourn.services.journey_data import UnreadableCondition
from sojourn.services.simulated_decisions import SimulatedDecisions


class SimulationActivities:
    def __init__(self, decisions: SimulatedDecisions) -> None:
        self._decisions = decisions

    @activity.defn(name=SIMULATE_SEND_ACTIVITY)
    async def simulate_send(self, send: SimulateSend) -> SimulatedSendResult:
        try:
            return await self._decisions.send(send.request, send.contact, datetime.fromisoformat(send.now))
        except TemplateRenderError as err:
            raise ApplicationError(f"template failed for this contact: {err}", type=ErrorType.TEMPLATE,
                                   non_retryable=True) from err
        except ContactNotFound as err:
            raise ApplicationError(str(err), type=ErrorType.CONTACT_NOT_FOUND, non_retryable=True) from err

    @activity.defn(name=SIMULATE_CONDITIONS_ACTIVITY)
    async def simulate_conditions(self, request: SimulateConditions) -> list[bool]:
        try:
            return await self._decisions.conditions(request.contact, request.filters,
                                                    datetime.fromisoformat(request.now))
        except UnreadableCondition as err:
            raise ApplicationError(str(err), type=ErrorType.INVALID_FILTER, non_retryable=True) from err

    @activity.defn(name=SIMULATE_LOCAL_TIME_ACTIVITY)
    async def simulate_next_local_time(self, request: SimulateLocalTime) -> str:
        due = await self._decisions.next_local_time(request.contact, request.at, datetime.fromisoformat(request.now),
                                                    request.weekdays, request.time_zone)
        return due.isoformat()

    @activity.defn(name=SIMULATE_TAG_ACTIVITY)
    async def simulate_tag(self, request: SimulateTag) -> float | None:
        return await self._decisions.tag(request.contact, request.tag, request.action, request.weight)

    @activity.defn(name=SIMULATE_ARM_ACTIVITY)
    async def simulate_arm(self, request: ArmRequest) -> str:
        return await self._decisions.arm(request)

    @activity.defn(name=SIMULATE_BEST_TIME_ACTIVITY)
    async def simulate_best_send_time(self, request: SimulateBestTime) -> BestTime:
        return await self._decisions.best_time(request.contact, datetime.fromisoformat(request.now), request.within)
