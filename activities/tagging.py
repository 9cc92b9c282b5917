"""The nightly tagging activity, over `sojourn.services.tagging`."""

from __future__ import annotations

from datetime import date

from temporalio import activity

from sojourn.contracts.tagging import RUN_TAG_RULES_ACTIVITY, TaggingRequest, TagRuleSummary
from sojourn.services.tagging import Tagging


class TaggingActivities:
    def __init__(self, tagging: Tagging) -> None:
        self._tagging = tagging

    @activity.defn(name=RUN_TAG_RULES_ACTIVITY)
    async def run_tag_rules(self, request: TaggingRequest) -> list[TagRuleSummary]:
        day = date.fromisoformat(request.day) if request.day is not None else None
        return await self._tagging.run_rules(day, activity.info().scheduled_time, heartbeat=activity.heartbeat)
