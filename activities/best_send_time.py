"""The best-send-time activity, over `sojourn.services.best_send_time`: a local activity, so its
answer is recorded in the run's history and a replay reads it from there."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from sojourn.contracts.journey_data import BEST_SEND_TIME_ACTIVITY, BestTime, BestTimeRequest
from sojourn.services.best_send_time import BestSendTimes


class BestSendTimeActivities:
    def __init__(self, times: BestSendTimes) -> None:
        self._times = times

    @activity.defn(name=BEST_SEND_TIME_ACTIVITY)
    async def best_send_time(self, request: BestTimeRequest) -> BestTime:
        return await self._times.of_contact(request.contact_id, datetime.fromisoformat(request.now), request.within)
