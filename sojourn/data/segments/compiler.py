"""The filter language (`sojourn.dsl.filters`) compiled to one boolean SQL expression over contacts.

A filter becomes a SQLAlchemy Core expression correlated to `contacts`; every query of
`sojourn.data.segments.evaluation` runs exactly one statement built from it, so Postgres, not
Python, looks at the rows:

- attributes: contact columns, or dotted paths into `contacts.attributes` (JSONB), compared
  by the SQL meaning of the operator (`sojourn.data.segments.operators`).
- tags: `EXISTS` on contact_tags (weight >= min_weight).
- events: `contacts.id IN (SELECT contact_id FROM events WHERE name AND window AND
  property conditions GROUP BY contact_id HAVING count(*) BETWEEN min AND max)`; "at least
  once" is a plain `EXISTS`, and counts that may be zero are written as the negation of
  "more than max", so contacts without any event are included.
- engagement: `EXISTS` on messages (received = status 'sent'), joined to
  engagement_events for opened / clicked (a link scanner's clicks, flagged `automated`, never match).
- scores: `EXISTS` on contact_predictions (the named prediction compared as a number), so a
  contact without the score matches no score condition, `ne` included.
- segment references: the referenced segment's stored filter is inlined (loaded first,
  with `load_references`), and a reference cycle raises `SegmentCycle`.

Three-valued logic: every leaf is built so that it is never NULL (missing or JSON-null
values give false, not unknown), so `NOT` means exactly Python's `not` and `ne` /
`not_in` are true for missing values, as `sojourn.dsl.operators.compare` defines.

Where a leaf sits at the top level of an AND, Postgres turns its EXISTS / IN into a
semi- or anti-join; under OR, NOT or a waterfall CASE it becomes a (hashed) subplan.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, not_, or_, select, true

from sojourn.data.models import utcnow
from sojourn.data.segments.errors import SegmentCycle, SegmentNotFound
from sojourn.data.segments.operators import compare_sql
from sojourn.data.segments.references import parse_filter
from sojourn.data.segments.tables import (
    contacts_table,
    engagement_table,
    events_table,
    messages_table,
    predictions_table,
    tags_table,
)
from sojourn.data.segments.values import JsonValue
from sojourn.dsl.durations import parse_duration
from sojourn.dsl.filters import (
    CONTACT_FIELDS,
    AndFilter,
    AttributeFilter,
    EngagementFilter,
    EventFilter,
    Filter,
    NotFilter,
    OrFilter,
    ScoreFilter,
    SegmentFilter,
    TagFilter,
)

_SCORE_COMPARISONS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gte": operator.ge,
                      "lt": operator.lt, "lte": operator.le}


class _Compiler:
    def __init__(self, now: datetime, segments: Mapping[str, Filter]) -> None:
        self.now = now
        self.segments = segments
        self.stack: list[str] = []

    def __call__(self, node: Filter) -> ColumnElement:
        if isinstance(node, AndFilter):
            return and_(*(self(child) for child in node.and_))
        if isinstance(node, OrFilter):
            return or_(*(self(child) for child in node.or_))
        if isinstance(node, NotFilter):
            return not_(self(node.not_))
        if isinstance(node, AttributeFilter):
            return compare_sql(node.op, self.attribute(node.attribute), node.value)
        if isinstance(node, TagFilter):
            return self.tag(node)
        if isinstance(node, EventFilter):
            return self.event(node)
        if isinstance(node, EngagementFilter):
            return self.engagement(node)
        if isinstance(node, SegmentFilter):
            return self.segment(node.segment)
        if isinstance(node, ScoreFilter):
            return self.score(node)
        raise TypeError(f"not a filter: {node!r}")

    @staticmethod
    def attribute(name: str) -> JsonValue:
        if name in CONTACT_FIELDS:
            return JsonValue.contact_field(name)
        return JsonValue.in_document(contacts_table.c.attributes, name)

    @staticmethod
    def tag(node: TagFilter) -> ColumnElement:
        t = tags_table.c
        conditions = [t.contact_id == contacts_table.c.id, t.tag == node.tag]
        if node.min_weight is not None:
            conditions.append(t.weight >= node.min_weight)
        return exists(select(literal(1)).select_from(tags_table).where(*conditions).correlate(contacts_table))

    def event(self, node: EventFilter) -> ColumnElement:
        e = events_table.c
        conditions = [e.name == node.event]
        if node.within is not None:
            # Only a lower bound: an event stamped a little ahead of us by a skewed clock still counts.
            conditions.append(e.occurred_at >= self.now - parse_duration(node.within))
        if node.since is not None:
            conditions.append(e.occurred_at >= node.since)
        if node.until is not None:
            conditions.append(e.occurred_at <= node.until)
        for condition in node.where:
            conditions.append(compare_sql(condition.op, JsonValue.in_document(e.properties, condition.property),
                                          condition.value))
        low, high = node.min_count, node.max_count
        contact = contacts_table.c.id

        def any_event() -> ColumnElement:
            return exists(select(literal(1)).select_from(events_table)
                          .where(e.contact_id == contact, *conditions).correlate(contacts_table))

        def counted(*having: ColumnElement) -> ColumnElement:
            # EXISTS over the grouped events rather than `id IN (...)`: at the top of an AND both
            # become a semi-join, but elsewhere (OR, NOT, CASE) an IN whose hash table would not
            # fit in work_mem falls back to scanning the whole list for every contact, while
            # EXISTS falls back to probing one contact's events through ix_events_contact_name_time.
            grouped = (select(e.contact_id).where(*conditions).group_by(e.contact_id).having(*having)
                       .subquery("counted"))
            return exists(select(literal(1)).select_from(grouped).where(grouped.c.contact_id == contact)
                          .correlate(contacts_table))

        n = func.count()
        if low == 0 and high is None:
            return true()
        if low == 0 and high == 0:
            return not_(any_event())
        if low == 0:
            return not_(counted(n > high))  # "no more than high" includes contacts with no event at all
        if low == 1 and high is None:
            return any_event()
        return counted(n >= low, *([n <= high] if high is not None else []))

    @staticmethod
    def engagement(node: EngagementFilter) -> ColumnElement:
        m = messages_table.c
        conditions = [m.contact_id == contacts_table.c.id, m.journey_id == node.journey]
        if node.node is not None:
            conditions.append(m.node_id == node.node)
        query = select(literal(1)).select_from(messages_table)
        if node.engagement == "received":
            conditions.append(m.status == "sent")
        else:
            query = query.join(engagement_table, engagement_table.c.message_id == m.id)
            conditions += [engagement_table.c.type == node.engagement, engagement_table.c.automated.is_(False)]
        return exists(query.where(*conditions).correlate(contacts_table))

    @staticmethod
    def score(node: ScoreFilter) -> ColumnElement:
        p = predictions_table.c
        if node.op == "between":
            low, high = node.value
            comparison = and_(*([p.value >= low] if low is not None else []),
                              *([p.value <= high] if high is not None else []))
        else:
            comparison = _SCORE_COMPARISONS[node.op](p.value, node.value)
        return exists(select(literal(1)).select_from(predictions_table)
                      .where(p.contact_id == contacts_table.c.id, p.name == node.score, comparison)
                      .correlate(contacts_table))

    def segment(self, segment_id: str) -> ColumnElement:
        if segment_id in self.stack:
            raise SegmentCycle([*self.stack[self.stack.index(segment_id):], segment_id])
        if segment_id not in self.segments:
            raise SegmentNotFound(segment_id)
        self.stack.append(segment_id)
        try:
            return self(self.segments[segment_id])
        finally:
            self.stack.pop()


def compile_filter(filter: Filter | dict, *, now: datetime | None = None,
                   segments: Mapping[str, Filter] | None = None) -> ColumnElement:
    """The filter as a boolean expression over `contacts` (never NULL). `segments` holds the
    filters of the segments it references (see `load_references`)."""
    return _Compiler(now or utcnow(), segments or {})(parse_filter(filter))


def select_ids(filter: Filter | dict, *, now: datetime | None = None,
               segments: Mapping[str, Filter] | None = None) -> Select:
    """SELECT contacts.id FROM contacts WHERE <filter>."""
    return select(contacts_table.c.id).where(compile_filter(filter, now=now, segments=segments))


def placement_case(filters: Sequence[Filter], *, now: datetime | None = None,
                   segments: Mapping[str, Filter] | None = None) -> ColumnElement:
    """CASE WHEN f0 THEN 0 WHEN f1 THEN 1 ... END: the index of the first filter a contact matches, else NULL."""
    compiler = _Compiler(now or utcnow(), segments or {})
    return case(*((compiler(f), index) for index, f in enumerate(filters)), else_=None)
