"""Rules on values the models take as they were first stored: a cron expression Temporal would
refuse, a sender that is not an address, an entry window that ends before it starts, a
cooldown its re-entry policy never reads, an `exists` flag that is not true or false.

They are checked when an author saves a definition, never when a stored one is read, so a
version stored before a rule existed (and the runs started on it) keeps working.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from sojourn.dsl.addresses import address_problem
from sojourn.dsl.cron import cron_problem
from sojourn.dsl.validation.problems import RawNode, Report

_DATETIME = TypeAdapter(datetime)

# What each policy does instead of waiting out a cooldown: only `always` reads one.
_WITHOUT_COOLDOWN = {
    "never": "a contact never enters twice",
    "after_exit": "a contact enters again as soon as the last run ended",
}


def rule_problems(raw: dict[str, Any], nodes: list[RawNode], report: Report) -> None:
    entry = raw.get("entry")
    if isinstance(entry, dict):
        _entry_problems(entry, report)
    reentry = raw.get("reentry")
    if isinstance(reentry, dict) and reentry.get("cooldown") is not None:
        policy = reentry.get("policy", "never")
        if policy in _WITHOUT_COOLDOWN:
            report(None, "reentry.cooldown", f"a cooldown goes with `policy: always` only: under `{policy}` "
                   f"{_WITHOUT_COOLDOWN[policy]}; use `policy: always` or leave the cooldown out")
    for path in _lax_flags({key: value for key, value in raw.items() if key != "nodes"}):
        report(None, path, _FLAG)
    for node in nodes:
        sender = node.data.get("from") if node.type == "send" else None
        if isinstance(sender, str):
            problem = address_problem(sender)
            if problem is not None:
                report(node, "from", problem)
        for path in _lax_flags(node.data):
            report(node, path, _FLAG)


def _entry_problems(entry: dict[str, Any], report: Report) -> None:
    schedule = entry.get("schedule")
    cron = schedule.get("cron") if isinstance(schedule, dict) else None
    if isinstance(cron, str):
        problem = cron_problem(cron)
        if problem is not None:
            report(None, "entry.schedule.cron", problem)
    starts, ends = _instant(entry.get("starts_at")), _instant(entry.get("ends_at"))
    if starts is not None and ends is not None and starts >= ends:
        report(None, "entry.ends_at", f"`ends_at` ({ends.isoformat()}) must be later than `starts_at` "
                                      f"({starts.isoformat()}), or no contact could ever enter")


def _instant(value: Any) -> datetime | None:
    """A datetime with a time zone as written, else None (the models report the rest)."""
    try:
        parsed = _DATETIME.validate_python(value)
    except ValidationError:
        return None
    return parsed if parsed.tzinfo is not None else None


_FLAG = "`exists` takes true or false (or no value), not a number"


def _lax_flags(data: dict[str, Any]) -> list[str]:
    """Paths of the `exists` comparisons whose value is a number equal to true or false (1, 0.0),
    which the filter models let through; any other value they refuse themselves."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        at, value = stack.pop()
        if isinstance(value, dict):
            flag = value.get("value")
            if value.get("op") == "exists" and not isinstance(flag, bool) and isinstance(flag, (int, float)) \
                    and flag in (0, 1):
                found.append(f"{at}value")
            stack += [(f"{at}{key}.", item) for key, item in value.items()]
        elif isinstance(value, list):
            stack += [(f"{at}{index}.", item) for index, item in enumerate(value)]
    return sorted(found)
