"""When a send or wait with `at: best_time` goes: the first moment within its window at the
contact's best hour (`send_time.best_hour`, sojourn.services.send_time) in the contact's time
zone, else the brand's; a contact without a stored hour gets the brand's hour from the latest
fitted version (SEND_TIME_DEFAULT_HOUR before any). The hours were learned in these zones (the
contact's, else the brand's), so a journey's own time zone does not apply here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.contracts.journey_data import BestTime
from sojourn.dsl.durations import parse_duration
from sojourn.dsl.send_windows import best_time_within, first_zone
from sojourn.settings import Settings

# The model's and prediction's names (sojourn.services.send_time stores them; this module stays
# free of its numeric imports).
MODEL = "send_time"
BEST_HOUR = "send_time.best_hour"

# The newest version fitted on data up to the moment of the decision: a version dated later (a
# re-run of a future day on a skipped test clock, a clock moved back) is not the brand's hour yet.
_BRAND_HOUR = ("SELECT (params ->> 'brand_hour')::int FROM prediction_models"
               " WHERE name = :model AND as_of <= :now ORDER BY as_of DESC LIMIT 1")
_CONTACT = ("SELECT c.time_zone, p.value FROM contacts AS c LEFT JOIN contact_predictions AS p"
            " ON p.contact_id = c.id AND p.name = :name WHERE c.id = :id")


class BestSendTimes:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._brand_time_zone = settings.brand_time_zone
        self._default_hour = settings.send_time_default_hour

    async def of_contact(self, contact_id: int, now: datetime, within: str) -> BestTime:
        """The best time of a stored contact (an erased one gets the brand's, in the brand's zone)."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(text(_CONTACT), {"name": BEST_HOUR, "id": contact_id})).one_or_none()
        time_zone, hour = row if row is not None else (None, None)
        if hour is not None:
            return self._choose(now, within, time_zone, int(hour), "contact")
        return await self.of_profile(time_zone, now, within)

    async def of_profile(self, time_zone: str | None, now: datetime, within: str) -> BestTime:
        """The best time of a contact without a stored hour (or stored nowhere): the brand's hour."""
        async with self._engine.connect() as conn:
            brand_hour = await conn.scalar(text(_BRAND_HOUR), {"model": MODEL, "now": now})
        if brand_hour is None:
            return self._choose(now, within, time_zone, self._default_hour, "default")
        return self._choose(now, within, time_zone, brand_hour, "brand")

    def _choose(self, now: datetime, within: str, time_zone: str | None, hour: int, source: str) -> BestTime:
        zone = first_zone(time_zone, self._brand_time_zone)
        at = best_time_within(now, now + parse_duration(within), zone, hour)
        return BestTime(at=at.isoformat(), local=f"{at.astimezone(zone):%Y-%m-%d %H:%M}", hour=hour,
                        time_zone=zone.key, source=source)
