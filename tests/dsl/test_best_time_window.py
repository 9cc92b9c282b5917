"""When a best-time send goes within its window: the first moment of the hour, now when it is that
hour already, the nearer end of a window without it, and on the contact's clock across DST."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.nodes import SendNode, WaitNode
from sojourn.dsl.send_windows import best_time_within

TAIPEI, NEW_YORK = ZoneInfo("Asia/Taipei"), ZoneInfo("America/New_York")


def taipei(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=TAIPEI)


@pytest.mark.parametrize(("now", "within", "hour", "expected"), [
    (taipei(1, 9), 24, 21, taipei(1, 21)),  # later the same day
    (taipei(1, 22), 24, 21, taipei(2, 21)),  # tomorrow's
    (taipei(1, 21, 40), 24, 21, taipei(1, 21, 40)),  # it is that hour already: now
    (taipei(1, 9), 6, 21, taipei(1, 15)),  # not in the window: the end is nearer 21:00
    (taipei(1, 9), 6, 5, taipei(1, 9)),  # not in the window: now is nearer 05:00
    (taipei(1, 23, 30), 2, 0, taipei(2, 0)),  # across midnight
])
def test_the_first_moment_of_the_hour_in_the_window(now, within, hour, expected):
    chosen = best_time_within(now.astimezone(timezone.utc), now + timedelta(hours=within), TAIPEI, hour)
    assert chosen == expected


def test_the_hour_is_the_contacts_clock_across_a_dst_change():
    # New York leaves DST on 2026-11-01: 07:00 that morning is 12:00 UTC, not 11:00.
    now = datetime(2026, 10, 31, 20, 0, tzinfo=NEW_YORK)
    assert best_time_within(now, now + timedelta(hours=24), NEW_YORK, 7) == datetime(2026, 11, 1, 12, tzinfo=timezone.utc)


def test_best_time_options():
    send = {"id": "s", "type": "send", "subject": "s", "text": "t", "next": "e", "at": "best_time"}
    assert SendNode.model_validate(send).best_time_window == "24h"
    assert SendNode.model_validate({**send, "within": "7d"}).best_time_window == "7d"
    assert WaitNode.model_validate({"id": "w", "type": "wait", "at": "best_time", "next": "e"}).best_time_window == "24h"
    for bad, message in (({**send, "within": "59m"}, "from 1h to 7d"), ({**send, "at": "21:00"}, "best_time"),
                         ({"id": "w", "type": "wait", "at": "best_time", "weekdays": ["mon"], "next": "e"},
                          "`weekdays` goes with `at` and a time of day")):
        with pytest.raises(ValueError, match=message):
            (SendNode if bad["type"] == "send" else WaitNode).model_validate(bad)


def test_a_best_time_send_is_not_sent_in_batches():
    """Each contact has their own time: a run per contact waits for it."""
    nodes = [{"id": "s", "type": "send", "subject": "s", "text": "t", "next": "e"}, {"id": "e", "type": "exit"}]
    assert JourneyDefinition.model_validate({"name": "n", "nodes": nodes}).single_send() is not None
    nodes[0]["at"] = "best_time"
    assert JourneyDefinition.model_validate({"name": "n", "nodes": nodes}).single_send() is None
