"""Split assignment: the arm a contact takes at a journey's split node, drawn once and recorded.

The draw is the contact's stable point (`sojourn.dsl.experiments`) over the arms' cumulative
weights; the record makes it final, so a re-entry or a later version (even with other weights)
takes the same arm. Only an arm the split no longer has is drawn again.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.contracts.experiments import ArmRequest
from sojourn.data.experiments import record_arm, recorded_arm
from sojourn.dsl.experiments import arm_at, stable_point


class Assignments:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def assign(self, request: ArmRequest) -> str:
        """The contact's arm at the split: the recorded one, else drawn now and recorded."""
        arms = [arm for arm, _ in request.weights]
        async with self._engine.connect() as conn:
            recorded = await recorded_arm(conn, request.journey_id, request.node_id, request.contact_id)
            if recorded in arms:
                return recorded
            drawn = arm_at(stable_point(request.contact_id, request.journey_id, request.node_id),
                           [(arm, weight) for arm, weight in request.weights])
            return await record_arm(conn, request.journey_id, request.node_id, request.contact_id, request.version,
                                    drawn, replace=recorded is not None)
