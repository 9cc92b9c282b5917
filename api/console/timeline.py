"""A simulation's answer (POST /v1/journeys/{id}/simulate's) as the console shows it: the path as
a timeline, each step with its time from the start, the decisions taken there and the messages
it rendered."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def timeline(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per step of the path, in order: the step, `offset` ("+2d 3h") from the run's
    start, and the decisions and messages that happened while the run was at it. Several steps
    can share an instant: a message or decision goes to the one at its node, else to the last
    (where the run rested when, say, an email was opened)."""
    start = datetime.fromisoformat(answer["started_at"])
    end = datetime.fromisoformat(answer["ended_at"])
    steps = []
    for step in answer["path"]:
        entered = datetime.fromisoformat(step["entered_at"])
        left = datetime.fromisoformat(step["left_at"]) if step["left_at"] else end
        steps.append({**step, "offset": offset(entered - start), "messages": [], "decisions": [],
                      "window": (entered, left)})
    for kind in ("messages", "decisions"):
        for item in answer[kind]:
            at = datetime.fromisoformat(item["at"]) if item.get("at") else None
            during = [step for step in steps if at is None or step["window"][0] <= at <= step["window"][1]]
            chosen = next((step for step in during if step["node"] == item.get("node")), None)
            if chosen is None and during:
                chosen = during[-1]
            if chosen is None and steps:
                chosen = steps[-1]
            if chosen is not None:  # a run always has its start node; without it there is nowhere to show it
                chosen[kind].append({**item, "offset": offset(at - start) if at else None})
    for step in steps:
        del step["window"]
    return steps


def offset(elapsed) -> str:
    """A time from the start as people say it: +0s, +3h, +2d 4h, +1h 30m."""
    seconds = max(0, int(elapsed.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{value}{unit}" for value, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if value]
    return "+" + (" ".join(parts[:2]) if parts else "0s")
