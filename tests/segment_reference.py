"""A plain-Python reference evaluator of the filter language, the oracle of the SQL compiler.

It evaluates one contact at a time over in-memory rows and takes every operator's
meaning from `sojourn.dsl.operators.compare`, so it is slow and obviously right; the
property tests assert that `sojourn.data.segments` selects exactly the same contacts.

The agreed meaning of what `compare` does not cover:
- contact columns are JSON values: strings or null, and `created_at` the string
  `created_at.astimezone(UTC).isoformat()`;
- an event counts when its name matches, every `where` condition holds on its
  properties, and `occurred_at >= now - within`, `>= since`, `<= until` (all inclusive);
  the filter holds when `min_count <= n` and (`max_count` is None or `n <= max_count`);
- received: a message of the journey (and node) with status `sent`; opened / clicked: an
  engagement event of that type, not automated, on any message of the journey (and node);
- a tag holds when present and (`min_weight` is None or `weight >= min_weight`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sojourn.dsl.durations import parse_duration
from sojourn.dsl.filters import (
    CONTACT_FIELDS,
    AndFilter,
    AttributeFilter,
    EngagementFilter,
    EventFilter,
    NotFilter,
    OrFilter,
    SegmentFilter,
    TagFilter,
    lookup,
    properties_match,
)
from sojourn.dsl.operators import compare


@dataclass
class World:
    """Rows as plain dicts, shaped like the tables."""

    contacts: list[dict[str, Any]] = field(default_factory=list)     # id, columns, attributes, created_at
    events: list[dict[str, Any]] = field(default_factory=list)       # contact_id, name, properties, occurred_at
    tags: list[dict[str, Any]] = field(default_factory=list)         # contact_id, tag, weight
    messages: list[dict[str, Any]] = field(default_factory=list)     # id, contact_id, journey_id, node_id, status
    engagements: list[dict[str, Any]] = field(default_factory=list)  # message_id, type, automated
    segments: dict[str, Any] = field(default_factory=dict)           # id -> parsed Filter


def field_value(contact: dict[str, Any], name: str) -> tuple[bool, Any]:
    """(present, value) of a contact column or a dotted attribute path, as JSON values."""
    if name in CONTACT_FIELDS:
        value = contact.get(name)
        if isinstance(value, datetime):
            value = value.astimezone(timezone.utc).isoformat()
        return True, value
    return lookup(contact["attributes"], name)


def evaluate(node: Any, contact: dict[str, Any], world: World, now: datetime, _stack: tuple = ()) -> bool:
    if isinstance(node, AndFilter):
        return all(evaluate(child, contact, world, now, _stack) for child in node.and_)
    if isinstance(node, OrFilter):
        return any(evaluate(child, contact, world, now, _stack) for child in node.or_)
    if isinstance(node, NotFilter):
        return not evaluate(node.not_, contact, world, now, _stack)
    if isinstance(node, AttributeFilter):
        return compare(node.op, *field_value(contact, node.attribute), node.value)
    if isinstance(node, TagFilter):
        return any(t["contact_id"] == contact["id"] and t["tag"] == node.tag
                   and (node.min_weight is None or t["weight"] >= node.min_weight) for t in world.tags)
    if isinstance(node, EventFilter):
        n = sum(1 for e in world.events if e["contact_id"] == contact["id"] and _event_counts(node, e, now))
        return node.min_count <= n and (node.max_count is None or n <= node.max_count)
    if isinstance(node, EngagementFilter):
        mine = [m for m in world.messages if m["contact_id"] == contact["id"] and m["journey_id"] == node.journey
                and (node.node is None or m["node_id"] == node.node)]
        if node.engagement == "received":
            return any(m["status"] == "sent" for m in mine)
        ids = {m["id"] for m in mine}
        return any(x["message_id"] in ids and x["type"] == node.engagement and not x["automated"]
                   for x in world.engagements)
    if isinstance(node, SegmentFilter):
        if node.segment in _stack:
            raise ValueError(f"segment reference cycle through {node.segment}")
        return evaluate(world.segments[node.segment], contact, world, now, (*_stack, node.segment))
    raise TypeError(node)


def _event_counts(node: EventFilter, event: dict[str, Any], now: datetime) -> bool:
    at = event["occurred_at"]
    return (event["name"] == node.event
            and (node.within is None or at >= now - parse_duration(node.within))
            and (node.since is None or at >= node.since)
            and (node.until is None or at <= node.until)
            and properties_match(node.where, event["properties"]))


def matching(node: Any, world: World, now: datetime) -> set[int]:
    """Ids of the contacts of `world` that match."""
    return {c["id"] for c in world.contacts if evaluate(node, c, world, now)}


def place(filters: list[Any], contact: dict[str, Any], world: World, now: datetime) -> int | None:
    """Waterfall: the index of the first filter the contact matches."""
    for index, node in enumerate(filters):
        if evaluate(node, contact, world, now):
            return index
    return None
