"""The nightly analysis: every tagging rule applied for one day, a range of contacts at a time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.contracts.tagging import TagRuleSummary
from sojourn.data.contact_chunks import contact_ranges
from sojourn.data.models import TagRule, TagRuleRun, utcnow
from sojourn.data.tag_rules import Weight, apply_range, day_that_ended, end_of_day, who_qualifies

# Contacts per statement: big enough for set-based work, small enough to heartbeat and to keep
# each transaction short.
RANGE = 50_000


class Tagging:
    def __init__(self, engine: AsyncEngine, brand_time_zone: str) -> None:
        self._engine = engine
        self._brand_time_zone = brand_time_zone

    async def run_rules(self, day: date | None, scheduled: datetime, *,
                        heartbeat: Callable[..., None]) -> list[TagRuleSummary]:
        """Apply every rule as of the end of `day` and record each rule's run. `day` None: the
        brand's day that ended before `scheduled` (a run scheduled at midnight; the same on a
        retry). `heartbeat` hears (rule id, first contact id) after each range."""
        if day is None:
            day = day_that_ended(scheduled, self._brand_time_zone)
        as_of = end_of_day(day, self._brand_time_zone)
        async with self._engine.connect() as conn:
            rules = (await conn.execute(select(TagRule).order_by(TagRule.id))).all()
        summaries = []
        for rule in rules:
            started = utcnow()
            totals = [0, 0, 0]
            weight = Weight.model_validate(rule.weight)
            async with self._engine.connect() as conn:
                qualifies = await who_qualifies(conn, rule.filter, as_of)
            async for low, high in contact_ranges(self._engine, RANGE):
                async with self._engine.begin() as conn:
                    counts = await apply_range(conn, rule.id, rule.tag, qualifies, weight, as_of, low, high)
                totals = [a + b for a, b in zip(totals, counts)]
                heartbeat(rule.id, low)
            tagged, changed, removed = totals
            summary = TagRuleSummary(rule_id=rule.id, tag=rule.tag, day=day.isoformat(),
                                     tagged=tagged, changed=changed, removed=removed)
            async with self._engine.begin() as conn:
                await conn.execute(TagRuleRun.__table__.insert().values(
                    rule_id=rule.id, day=summary.day, tagged=summary.tagged, changed=summary.changed,
                    removed=summary.removed, started_at=started, finished_at=utcnow()))
            summaries.append(summary)
        return summaries
