"""Local times of day across time zones and DST changes."""

from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from sojourn.dsl.send_windows import (
    first_zone,
    next_local_time,
    parse_local_time,
    quiet_until,
)

TAIPEI, NEW_YORK, LONDON = ZoneInfo("Asia/Taipei"), ZoneInfo("America/New_York"), ZoneInfo("Europe/London")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_next_wednesday_eleven_in_taipei():
    # Wednesday 2026-11-25 02:00 UTC is 10:00 in Taipei: later the same day.
    assert next_local_time(utc(2026, 11, 25, 2), TAIPEI, time(11), ["wed"]) == utc(2026, 11, 25, 3)
    # 04:00 UTC is 12:00 there: a week later.
    assert next_local_time(utc(2026, 11, 25, 4), TAIPEI, time(11), ["wed"]) == utc(2026, 12, 2, 3)
    # Exactly at the time counts as now.
    assert next_local_time(utc(2026, 11, 25, 3), TAIPEI, time(11), ["wed"]) == utc(2026, 11, 25, 3)
    # Any day: tomorrow.
    assert next_local_time(utc(2026, 11, 25, 4), TAIPEI, time(11)) == utc(2026, 11, 26, 3)


def test_dst_spring_forward_and_fall_back():
    # New York springs forward on 2026-03-08 at 02:00: 02:30 does not exist that day; it lands
    # 2 h 30 after midnight as the clock runs (03:30 EDT, 07:30 UTC).
    assert next_local_time(utc(2026, 3, 8, 5), NEW_YORK, time(2, 30)) == utc(2026, 3, 8, 7, 30)
    # 09:00 keeps being 09:00 local on both sides of the change.
    assert next_local_time(utc(2026, 3, 7, 15), NEW_YORK, time(9)) == utc(2026, 3, 8, 13)
    assert next_local_time(utc(2026, 3, 6, 15), NEW_YORK, time(9)) == utc(2026, 3, 7, 14)
    # Falls back on 2026-11-01: 01:30 happens twice; the first one (EDT, 05:30 UTC).
    assert next_local_time(utc(2026, 11, 1, 4), NEW_YORK, time(1, 30)) == utc(2026, 11, 1, 5, 30)


def test_quiet_hours_across_midnight_in_the_contacts_zone():
    start, end = time(22), time(8)
    # 23:00 in London (UTC in winter): quiet until 08:00 London.
    assert quiet_until(utc(2026, 1, 10, 23), LONDON, start, end) == utc(2026, 1, 11, 8)
    # The same instant is 07:00 the next morning in Taipei: quiet for one more hour.
    assert quiet_until(utc(2026, 1, 10, 23), TAIPEI, start, end) == utc(2026, 1, 11, 0)
    # 12:00 in New York: not quiet.
    assert quiet_until(utc(2026, 1, 10, 17), NEW_YORK, start, end) is None
    # A window within one day.
    assert quiet_until(utc(2026, 1, 10, 13), LONDON, time(12), time(14)) == utc(2026, 1, 10, 14)
    assert quiet_until(utc(2026, 1, 10, 14), LONDON, time(12), time(14)) is None


def test_zone_fallbacks_and_bad_input():
    assert first_zone(None, "Asia/Taipei", "UTC") == TAIPEI
    assert first_zone("Not/AZone", None, "Europe/London") == LONDON  # a contact's bad zone is skipped
    assert first_zone(None, None, None) == ZoneInfo("UTC")
    with pytest.raises(ValueError, match="HH:MM"):
        parse_local_time("25:00")
