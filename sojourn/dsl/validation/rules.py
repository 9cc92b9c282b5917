"""Rules on values the models take as they were first stored: a cron expression Temporal would
refuse, a sender that is not an address, an `exists` flag that is not true or false.

They are checked when an author saves a definition, never when a stored one is read, so a
version stored before a rule existed (and the runs started on it) keeps working.
"""

from __future__ import annotations

from typing import Any

from sojourn.dsl.addresses import address_problem
from sojourn.dsl.cron import cron_problem
from sojourn.dsl.validation.problems import RawNode, Report


def rule_problems(raw: dict[str, Any], nodes: list[RawNode], report: Report) -> None:
    entry = raw.get("entry")
    if isinstance(entry, dict):
        _entry_problems(entry, report)
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
