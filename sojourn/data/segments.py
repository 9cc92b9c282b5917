"""Segments: the filter language (`sojourn.filters`) compiled to ONE SQL statement over contacts.

A filter becomes a boolean SQLAlchemy Core expression correlated to `contacts`; every
public function runs exactly one statement built from it, so Postgres, not Python,
looks at the rows:

- attributes: contact columns, or dotted paths into `contacts.attributes` (JSONB). An
  equality on a scalar is written as containment (`attributes @> '{"city": "Taipei"}'`),
  which is exactly JSON equality for scalars (numbers numerically, strings exactly,
  booleans only booleans) and can use the GIN index of migration 0002. Every other
  operator checks `jsonb_typeof` first (inside CASE, so no cast can fail), so a string
  "5" never equals or exceeds the number 5.
- tags: `EXISTS` on contact_tags (weight >= min_weight).
- events: `contacts.id IN (SELECT contact_id FROM events WHERE name AND window AND
  property conditions GROUP BY contact_id HAVING count(*) BETWEEN min AND max)`; "at least
  once" is a plain `EXISTS`, and counts that may be zero are written as the negation of
  "more than max", so contacts without any event are included.
- engagement: `EXISTS` on messages (received = status 'sent'), joined to
  engagement_events for opened / clicked.
- segment references: the referenced segment's stored filter is inlined (loaded first,
  with `load_references`), and a reference cycle raises `SegmentCycle`.

Three-valued logic: every leaf is built so that it is never NULL (missing or JSON-null
values give false, not unknown), so `NOT` means exactly Python's `not` and `ne` /
`not_in` are true for missing values, as `sojourn.filters.compare` defines.

Where a leaf sits at the top level of an AND, Postgres turns its EXISTS / IN into a
semi- or anti-join; under OR, NOT or a waterfall CASE it becomes a (hashed) subplan.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Numeric,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.models import (
    Contact,
    ContactTag,
    EngagementEvent,
    Event,
    Message,
    Segment,
    SegmentSet,
    utcnow,
)
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
    SegmentFilter,
    TagFilter,
    _as_datetime,
    _is_number,
)
from sojourn.errors import Conflict, Invalid, NotFound, SojournError

contacts_table = Contact.__table__
events_table = Event.__table__
tags_table = ContactTag.__table__
messages_table = Message.__table__
engagement_table = EngagementEvent.__table__

FILTER = TypeAdapter(Filter)

# Datetime text that both Python's `datetime.fromisoformat` (after Z -> +00:00) and Postgres
# read the same way, with a time zone: ISO 8601 extended format, 'T' or ' ' between date and
# time, minutes required, at most 6 fractional digits, offset Z / +HH / +HHMM / +HH:MM.
# Rarer forms Python also accepts (basic format, hour-only times, other separators, a space before the offset,
# 7+ fractional digits, offsets beyond +-15:59) count as "not a datetime" in SQL.
ISO_DATETIME = (r"^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
                r"(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)$")


class SegmentError(SojournError):
    """A segment cannot be evaluated or stored as asked."""


class SegmentNotFound(SegmentError, NotFound, LookupError):
    def __init__(self, segment_id: str) -> None:
        super().__init__(f"segment '{segment_id}' not found")
        self.segment_id = segment_id


class SegmentSetNotFound(SegmentError, NotFound, LookupError):
    def __init__(self, set_id: str) -> None:
        super().__init__(f"segment set '{set_id}' not found")
        self.set_id = set_id


class SegmentConflict(SegmentError, Conflict):
    pass


class SegmentCycle(SegmentError, Invalid, ValueError):
    """Segments that reference each other in a loop: `path` is the loop, first id repeated last."""

    code = "segment_cycle"

    def __init__(self, path: Sequence[str]) -> None:
        message = "segment reference cycle: " + " -> ".join(path)
        super().__init__(message, details=[{"field": "filter", "message": message, "type": "cycle", "path": list(path)}])
        self.path = list(path)


class InvalidFilter(SegmentError, Invalid, ValueError):
    """A filter that does not parse or names segments that do not exist; `problems` lists each."""

    code = "invalid_filter"

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__(f"the filter has {len(problems)} problem(s)", details=problems)
        self.problems = problems


# -- parsing and references ---------------------------------------------------------------


def parse_filter(data: Any) -> Filter:
    """A filter model from its JSON form (or the model itself)."""
    if isinstance(data, (AndFilter, OrFilter, NotFilter, AttributeFilter, TagFilter, EventFilter,
                         EngagementFilter, SegmentFilter)):
        return data
    return FILTER.validate_python(data)


def filter_problems(data: Any, prefix: str = "filter") -> list[dict[str, str]]:
    """Every problem pydantic finds in a filter's JSON form, as {field, message, type}."""
    try:
        FILTER.validate_python(data)
    except ValidationError as exc:
        return [{"field": ".".join([prefix, *(str(p) for p in e["loc"])]), "message": e["msg"], "type": e["type"]}
                for e in exc.errors()]
    return []


def referenced_segments(filter: Filter) -> set[str]:
    """Ids of the segments a filter names directly (not through them)."""
    found: set[str] = set()

    def walk(node: Filter) -> None:
        if isinstance(node, AndFilter):
            for child in node.and_:
                walk(child)
        elif isinstance(node, OrFilter):
            for child in node.or_:
                walk(child)
        elif isinstance(node, NotFilter):
            walk(node.not_)
        elif isinstance(node, SegmentFilter):
            found.add(node.segment)

    walk(filter)
    return found


async def load_references(session: AsyncSession, filters: Iterable[Filter],
                          known: Mapping[str, Filter] | None = None) -> dict[str, Filter]:
    """The stored filters of every segment `filters` reach, directly or through other segments.

    One query per level of nesting. `known` entries win over stored ones (a segment being
    saved is checked with its new filter). Raises `SegmentNotFound` for a missing segment.
    """
    loaded: dict[str, Filter] = dict(known or {})
    wanted: set[str] = set()
    for f in filters:
        wanted |= referenced_segments(f)
    wanted -= loaded.keys()
    while wanted:
        rows = (await session.execute(select(Segment.id, Segment.filter).where(Segment.id.in_(sorted(wanted))))).all()
        found = {row.id: parse_filter(row.filter) for row in rows}
        missing = wanted - found.keys()
        if missing:
            raise SegmentNotFound(sorted(missing)[0])
        loaded.update(found)
        wanted = set().union(*(referenced_segments(f) for f in found.values())) - loaded.keys()
    return loaded


def check_cycles(segments: Mapping[str, Filter], start: str | None = None) -> None:
    """Raise `SegmentCycle` if the segments (from `start`, or all of them) reference each other in a loop."""
    done: set[str] = set()

    def visit(segment_id: str, path: list[str]) -> None:
        if segment_id in path:
            raise SegmentCycle([*path[path.index(segment_id):], segment_id])
        if segment_id in done or segment_id not in segments:
            return
        for child in sorted(referenced_segments(segments[segment_id])):
            visit(child, [*path, segment_id])
        done.add(segment_id)

    for segment_id in ([start] if start is not None else sorted(segments)):
        visit(segment_id, [])


# -- compiling ----------------------------------------------------------------------------


def _json(value: Any) -> ColumnElement:
    """A JSON constant, bound as a parameter of type jsonb."""
    return literal(json.dumps(value), String).cast(JSONB)


def _number(value: int | float) -> ColumnElement:
    # Through the shortest repr, so a float compares to a stored JSON number exactly as Python would.
    return literal(Decimal(repr(value)) if isinstance(value, float) else value, Numeric)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _nested(path: list[str], value: Any) -> dict:
    doc: Any = value
    for part in reversed(path):
        doc = {part: doc}
    return doc


class _Value:
    """One JSON value of a contact or an event: a key path in a JSONB document (`doc`) or a contact column.

    `json` is NULL when the value is missing; `text` is the string's text when it is a JSON string.
    """

    def __init__(self, json_value: ColumnElement, text: ColumnElement, doc: ColumnElement | None = None,
                 path: list[str] | None = None) -> None:
        self.json, self.text, self.doc, self.path = json_value, text, doc, path

    @classmethod
    def in_document(cls, doc: ColumnElement, dotted: str) -> _Value:
        path = dotted.split(".")
        parent = doc
        for part in path[:-1]:
            parent = parent.op("->")(literal(part, String))
        value = parent.op("->", return_type=JSONB)(literal(path[-1], String))
        text = parent.op("->>", return_type=String)(literal(path[-1], String))
        return cls(value, text, doc, path)

    @classmethod
    def contact_field(cls, name: str) -> _Value:
        column = contacts_table.c[name]
        if name == "created_at":
            # As Python renders it: datetime.astimezone(UTC).isoformat().
            utc = func.timezone("UTC", column)
            micro = func.to_char(utc, ".US")
            column = (func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS')
                      + case((micro == ".000000", ""), else_=micro) + "+00:00")
        return cls(func.to_jsonb(cast(column, String)), cast(column, String))

    def typeof(self) -> ColumnElement:
        return func.jsonb_typeof(self.json)

    def is_type(self, kind: str) -> ColumnElement:
        """Inside CASE WHEN only: NULL (not false) when the value is missing."""
        return self.typeof() == kind

    def number(self) -> ColumnElement:
        return cast(self.json, Numeric)

    def readable_timestamp(self) -> ColumnElement:
        """Inside CASE WHEN only: the value is a string that reads as an ISO 8601 datetime with a zone."""
        return and_(self.typeof() == "string", self.text.op("~")(ISO_DATETIME),
                    func.pg_input_is_valid(self.text, "timestamptz"))

    def timestamp(self) -> ColumnElement:
        """Only where `readable_timestamp()` holds: the cast of any other text fails."""
        return cast(self.text, TIMESTAMP(timezone=True))


def _eq(value: _Value, expected: Any) -> ColumnElement:
    if expected is None:
        return false()  # null never satisfies a comparison
    if value.doc is not None:
        contained = value.doc.op("@>", return_type=Boolean)(_json(_nested(value.path, expected)))
        if _is_scalar(expected):
            return contained  # scalar containment is JSON equality, and uses the GIN index
        return and_(contained, value.json == _json(expected))
    return and_(value.json.isnot(None), value.json == _json(expected))


def _contains(value: _Value, expected: Any) -> ColumnElement:
    options = []
    if isinstance(expected, str):
        options.append(case((value.is_type("string"), func.strpos(value.text, expected) > 0), else_=false()))
    if value.doc is not None:
        if _is_scalar(expected) or expected is None:
            # An array holding the scalar: containment of a one-element array is element equality here.
            options.append(value.doc.op("@>", return_type=Boolean)(_json(_nested(value.path, [expected]))))
        else:
            element = func.jsonb_array_elements(value.json).table_valued("value").alias("element")
            has = exists(select(literal(1)).select_from(element).where(element.c.value == _json(expected)))
            options.append(case((value.is_type("array"), has), else_=false()))
    return or_(*options) if options else false()


def _between(value: _Value, bounds: list[Any]) -> ColumnElement:
    low, high = bounds
    present = [b for b in (low, high) if b is not None]
    if all(_is_number(b) for b in present):
        number = value.number()
        checks = [number >= _number(low) if low is not None else true(),
                  number <= _number(high) if high is not None else true()]
        return case((value.is_type("number"), and_(*checks)), else_=false())
    # Datetime bounds; as in `compare`, an end that is not a datetime leaves that side open.
    low_at, high_at = (_as_datetime(b) if b is not None else None for b in (low, high))
    stamp = value.timestamp()
    checks = [stamp >= low_at if low_at is not None else true(), stamp <= high_at if high_at is not None else true()]
    return case((value.readable_timestamp(), and_(*checks)), else_=false())


def event_value(dotted: str) -> _Value:
    """A property of an event (`a.b` reaches into nested objects), for `compare_sql` and weights."""
    return _Value.in_document(events_table.c.properties, dotted)


def compare_sql(op: str, value: _Value, expected: Any) -> ColumnElement:
    """`sojourn.filters.compare` in SQL; never NULL."""
    if op == "exists":
        exists_ = and_(value.json.isnot(None), value.typeof() != "null")  # never NULL
        return exists_ if expected in (None, True) else not_(exists_)
    if op == "ne":
        return not_(_eq(value, expected))
    if op == "not_in":
        return not_(compare_sql("in", value, expected))
    if op == "eq":
        return _eq(value, expected)
    if op == "in":
        options = [_eq(value, candidate) for candidate in expected if candidate is not None]
        return or_(*options) if options else false()
    if op == "contains":
        return _contains(value, expected)
    if op in ("gt", "gte", "lt", "lte"):
        number, bound = value.number(), _number(expected)
        test = {"gt": number > bound, "gte": number >= bound, "lt": number < bound, "lte": number <= bound}[op]
        return case((value.is_type("number"), test), else_=false())
    if op == "between":
        return _between(value, expected)
    raise ValueError(f"unknown operator {op!r}")


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
        raise TypeError(f"not a filter: {node!r}")

    @staticmethod
    def attribute(name: str) -> _Value:
        if name in CONTACT_FIELDS:
            return _Value.contact_field(name)
        return _Value.in_document(contacts_table.c.attributes, name)

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
            conditions.append(compare_sql(condition.op, _Value.in_document(e.properties, condition.property),
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
            conditions.append(engagement_table.c.type == node.engagement)
        return exists(query.where(*conditions).correlate(contacts_table))

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


# -- evaluating ---------------------------------------------------------------------------


# For the rest of the caller's transaction (SET LOCAL): room for exact bitmaps and in-memory
# hashes (at the default 4MB a 30-day scan of a common event goes lossy and rechecks ~1M rows),
# and a plan made for these parameters every time, never a generic plan cached for the
# statement text by the prepared-statement cache (a window or a name changes the best plan).
WORK_MEM = "64MB"
_TUNE = text("SELECT set_config('work_mem', :work_mem, true), set_config('plan_cache_mode', 'force_custom_plan', true)")


async def _tune(session: AsyncSession) -> None:
    await session.execute(_TUNE, {"work_mem": WORK_MEM})


async def _prepare(session: AsyncSession, filter: Filter | dict) -> tuple[Filter, dict[str, Filter]]:
    parsed = parse_filter(filter)
    segments = await load_references(session, [parsed])
    await _tune(session)
    return parsed, segments


async def count(session: AsyncSession, filter: Filter | dict, now: datetime | None = None) -> int:
    """How many contacts match."""
    parsed, segments = await _prepare(session, filter)
    condition = compile_filter(parsed, now=now, segments=segments)
    return (await session.execute(select(func.count()).select_from(contacts_table).where(condition))).scalar_one()


async def contacts(session: AsyncSession, filter: Filter | dict, limit: int, after_id: int | None = None,
                   now: datetime | None = None) -> list[Contact]:
    """Up to `limit` matching contacts with id > `after_id`, by id (keyset paging)."""
    parsed, segments = await _prepare(session, filter)
    query = select(Contact).where(compile_filter(parsed, now=now, segments=segments))
    if after_id is not None:
        query = query.where(Contact.id > after_id)
    return list((await session.execute(query.order_by(Contact.id).limit(limit))).scalars())


async def matching_ids(session: AsyncSession, filter: Filter | dict, contact_ids: Sequence[int],
                       now: datetime | None = None) -> set[int]:
    """Which of these contacts match (for example, after they changed: who newly entered)."""
    if not contact_ids:
        return set()
    parsed, segments = await _prepare(session, filter)
    query = select_ids(parsed, now=now, segments=segments).where(contacts_table.c.id.in_(list(contact_ids)))
    return set((await session.execute(query)).scalars())


async def matches(session: AsyncSession, filter: Filter | dict, contact_id: int, now: datetime | None = None) -> bool:
    """Whether one contact matches."""
    return contact_id in await matching_ids(session, filter, [contact_id], now=now)


async def _set_filters(session: AsyncSession, segment_ids: Sequence[str]) -> tuple[list[Filter], dict[str, Filter]]:
    filters = [SegmentFilter(segment=s) for s in segment_ids]
    segments = await load_references(session, filters)
    await _tune(session)
    return filters, segments


async def placement_counts(session: AsyncSession, segment_ids: Sequence[str],
                           now: datetime | None = None) -> dict[str | None, int]:
    """Waterfall: how many contacts land in each segment (the first they match), and under None the unplaced."""
    filters, segments = await _set_filters(session, segment_ids)
    slot = placement_case(filters, now=now, segments=segments).label("slot")
    rows = (await session.execute(select(slot, func.count()).select_from(contacts_table).group_by(slot))).all()
    counts: dict[str | None, int] = {segment_id: 0 for segment_id in segment_ids}
    counts[None] = 0
    for index, n in rows:
        counts[segment_ids[index] if index is not None else None] += n
    return counts


async def place(session: AsyncSession, segment_ids: Sequence[str], contact_id: int,
                now: datetime | None = None) -> str | None:
    """Waterfall: the first segment this contact matches, or None."""
    filters, segments = await _set_filters(session, segment_ids)
    slot = placement_case(filters, now=now, segments=segments)
    index = (await session.execute(select(slot).where(contacts_table.c.id == contact_id))).scalar_one_or_none()
    return segment_ids[index] if index is not None else None


# -- storing ------------------------------------------------------------------------------


async def checked_filter(session: AsyncSession, data: Any, segment_id: str | None = None) -> Filter:
    """Parse a filter for storing as segment `segment_id`: every problem is listed in
    `InvalidFilter`; a reference to a missing segment is a problem; a cycle raises `SegmentCycle`."""
    problems = filter_problems(data)
    if problems:
        raise InvalidFilter(problems)
    parsed = parse_filter(data)
    known = {segment_id: parsed} if segment_id is not None else {}
    try:
        segments = await load_references(session, [parsed], known=known)
    except SegmentNotFound as exc:
        raise InvalidFilter([{"field": "filter", "message": f"references {exc}", "type": "segment_not_found"}])
    if segment_id is not None:
        check_cycles(segments, start=segment_id)
    return parsed


def stored_form(filter: Filter) -> dict:
    return filter.model_dump(mode="json", by_alias=True, exclude_defaults=True)


async def get_segment(session: AsyncSession, segment_id: str) -> Segment:
    segment = await session.get(Segment, segment_id)
    if segment is None:
        raise SegmentNotFound(segment_id)
    return segment


# Segment writes take this transaction-scoped advisory lock, one at a time: two concurrent
# updates could otherwise each pass the cycle check and close a loop together, and two
# creates of one id would both pass the existence check.
_WRITE_LOCK = text("SELECT pg_advisory_xact_lock(7250419318502)")


async def create_segment(session: AsyncSession, segment_id: str, name: str, data: Any) -> Segment:
    await session.execute(_WRITE_LOCK)
    parsed = await checked_filter(session, data, segment_id)
    if await session.get(Segment, segment_id) is not None:
        raise SegmentConflict(f"segment '{segment_id}' already exists; change it with PUT")
    segment = Segment(id=segment_id, name=name, filter=stored_form(parsed))
    session.add(segment)
    await session.commit()
    return segment


async def update_segment(session: AsyncSession, segment_id: str, name: str | None, data: Any) -> Segment:
    await session.execute(_WRITE_LOCK)
    segment = await get_segment(session, segment_id)
    parsed = await checked_filter(session, data, segment_id)
    segment.filter = stored_form(parsed)
    if name is not None:
        segment.name = name
    segment.updated_at = utcnow()
    await session.commit()
    return segment


async def get_segment_set(session: AsyncSession, set_id: str) -> SegmentSet:
    segment_set = await session.get(SegmentSet, set_id)
    if segment_set is None:
        raise SegmentSetNotFound(set_id)
    return segment_set


async def create_segment_set(session: AsyncSession, set_id: str, name: str, segment_ids: list[str]) -> SegmentSet:
    problems = [{"field": f"segments.{i}", "message": f"segment '{s}' is listed twice", "type": "duplicate"}
                for i, s in enumerate(segment_ids) if s in segment_ids[:i]]
    found = set((await session.execute(select(Segment.id).where(Segment.id.in_(segment_ids)))).scalars())
    problems += [{"field": f"segments.{i}", "message": f"segment '{s}' not found", "type": "segment_not_found"}
                 for i, s in enumerate(segment_ids) if s not in found]
    if problems:
        raise InvalidFilter(problems)
    await session.execute(_WRITE_LOCK)
    if await session.get(SegmentSet, set_id) is not None:
        raise SegmentConflict(f"segment set '{set_id}' already exists")
    segment_set = SegmentSet(id=set_id, name=name, segments=list(segment_ids))
    session.add(segment_set)
    await session.commit()
    return segment_set


async def explain(session: AsyncSession, filter: Filter | dict, now: datetime | None = None,
                  analyze: bool = False) -> str:
    """The Postgres plan of `count` for this filter (EXPLAIN, with ANALYZE and BUFFERS when `analyze`)."""
    parsed, segments = await _prepare(session, filter)
    statement = select(func.count()).select_from(contacts_table).where(
        compile_filter(parsed, now=now, segments=segments))
    connection = await session.connection()
    compiled = statement.compile(dialect=connection.dialect)
    params = [compiled.params[name] for name in compiled.positiontup]
    options = "ANALYZE, BUFFERS" if analyze else "COSTS"
    raw = (await connection.get_raw_connection()).driver_connection
    rows = await raw.fetch(f"EXPLAIN ({options}) {compiled.string}", *params)
    return "\n".join(row[0] for row in rows)
