"""The split node's activity, over `sojourn.services.experiments`."""

from __future__ import annotations

from temporalio import activity

from sojourn.contracts.experiments import ASSIGN_ARM_ACTIVITY, ArmRequest
from sojourn.services.experiments import Assignments


class ExperimentActivities:
    def __init__(self, assignments: Assignments) -> None:
        self._assignments = assignments

    @activity.defn(name=ASSIGN_ARM_ACTIVITY)
    async def assign_arm(self, request: ArmRequest) -> str:
        return await self._assignments.assign(request)
