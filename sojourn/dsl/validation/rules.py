"""Rules on values the models take as they were first stored: a cron expression Temporal would
refuse.

They are checked when an author saves a definition, never when a stored one is read, so a
version stored before a rule existed (and the runs started on it) keeps working.
"""

from __future__ import annotations

from typing import Any

from sojourn.dsl.cron import cron_problem
from sojourn.dsl.validation.problems import RawNode, Report


def rule_problems(raw: dict[str, Any], nodes: list[RawNode], report: Report) -> None:
    entry = raw.get("entry")
    if isinstance(entry, dict):
        _entry_problems(entry, report)


def _entry_problems(entry: dict[str, Any], report: Report) -> None:
    schedule = entry.get("schedule")
    cron = schedule.get("cron") if isinstance(schedule, dict) else None
    if isinstance(cron, str):
        problem = cron_problem(cron)
        if problem is not None:
            report(None, "entry.schedule.cron", problem)
