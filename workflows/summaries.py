"""What an operator reads in the Temporal UI about a journey run: one-line summaries on its
timers and activities, and the run's current details (where it is now).

Summaries are stored as payloads in the run's history (sealed by the contact codec like any
payload), so they stay short: node ids, a channel, a time to the minute, never content.

Part of the journey interpreter (workflows/interpreter.py): pure, passed through the sandbox.
"""

from __future__ import annotations

from datetime import datetime, timezone

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sojourn.contracts.journey_data import BestTime
    from sojourn.dsl.conditions import EngagementCondition, EventCondition
    from sojourn.dsl.nodes import SendNode


def moment(at: datetime) -> str:
    """A time as operators compare it with the UI's clock: UTC, to the minute."""
    return f"{at.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"


def send(node: SendNode) -> str:
    channels = node.channel if isinstance(node.channel, list) else [node.channel]
    return f"send {node.id} ({', '.join(channels)})"


def rest(node_id: str, due: datetime) -> str:
    """A wait's timer, or a deferred send's."""
    return f"{node_id} until {moment(due)}"


def best_time(node_id: str, best: BestTime) -> str:
    """A best-time rest's timer, in the contact's own clock (the hour chosen is local)."""
    return f"{node_id} best time: {best.local} {best.time_zone}"


def best_time_outcome(best: BestTime) -> str:
    """Why the run rests until then: whose hour it is."""
    whose = {"contact": "the contact's best hour", "brand": "the brand's best hour"}.get(best.source, "the default hour")
    return f"best time {best.hour:02d}:00 {best.time_zone} ({whose})"


def wait_for(node_id: str, condition: EngagementCondition | EventCondition, due: datetime) -> str:
    awaited = (f"{condition.kind} of {condition.send_node}" if isinstance(condition, EngagementCondition)
               else f"event {condition.event}")
    return f"{node_id}: wait_for {awaited} until {moment(due)}"


def details(where: str, messages_sent: int) -> str:
    """The run's current details: where it is, and how many messages it sent so far."""
    return f"{where}, {messages_sent} message{'' if messages_sent == 1 else 's'} sent"
