"""Local times of day in a contact's time zone: waits until a time, and quiet hours.

Pure functions of an instant and a zone. Wall-clock times are resolved with zoneinfo, so a
time that does not exist on a DST spring-forward day lands as far after midnight as the
clock says (02:30 becomes 03:30), and one that happens twice on a fall-back day is the first.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_local_time(text: str) -> time:
    match = _LOCAL_TIME.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"a time of day is written HH:MM, 00:00 to 23:59 (got {text!r})")
    return time(int(match.group(1)), int(match.group(2)))


def _checked_time(text: str) -> str:
    parse_local_time(text)
    return text


def _checked_zone(name: str) -> str:
    zone_of(name)
    return name


LocalTime = Annotated[str, AfterValidator(_checked_time)]
TimeZoneName = Annotated[str, AfterValidator(_checked_zone)]


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name like Asia/Taipei") from None


def first_zone(*names: str | None) -> ZoneInfo:
    """The first of the names that is a known zone (the contact's, the journey's, the brand's), else UTC."""
    for name in names:
        if name:
            try:
                return zone_of(name)
            except ValueError:
                continue
    return ZoneInfo("UTC")


def _at(day: datetime, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), clock, tzinfo=zone).astimezone(timezone.utc)


def next_local_time(now: datetime, zone: ZoneInfo, clock: time, weekdays: list[str] | None = None) -> datetime:
    """The first instant at or after `now` when it is `clock` in `zone` on one of `weekdays`."""
    local = now.astimezone(zone)
    for offset in range(8):
        day = local + timedelta(days=offset)
        if weekdays and WEEKDAYS[day.weekday()] not in weekdays:
            continue
        candidate = _at(day, clock, zone)
        if candidate >= now:
            return candidate
    raise AssertionError("a week always holds the next allowed day")


def quiet_until(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime | None:
    """When quiet hours (`start` to `end`, local, may span midnight) end, if `now` is inside them."""
    clock = now.astimezone(zone).time()
    inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
    return next_local_time(now, zone, end) if inside else None


def best_time_within(now: datetime, end: datetime, zone: ZoneInfo, hour: int) -> datetime:
    """The first instant from `now` to `end` inside the local hour `hour` (`hour`:00 to :59) in
    `zone`: `now` itself when it is already that hour. A window without that hour gives whichever
    of its ends is nearer that hour on the clock, `now` on a tie (sooner rather than later)."""
    if now.astimezone(zone).hour == hour:
        return now
    candidate = next_local_time(now, zone, time(hour))
    if candidate <= end:
        return candidate
    return end if _clock_distance(end.astimezone(zone), hour) < _clock_distance(now.astimezone(zone), hour) else now


def _clock_distance(local: datetime, hour: int) -> float:
    """Hours from the local time to the nearest moment of the hour `hour`, around the clock."""
    into = (local.hour - hour) % 24 + local.minute / 60  # hours since `hour` began
    return 0.0 if into < 1 else min(into - 1, 24 - into)
