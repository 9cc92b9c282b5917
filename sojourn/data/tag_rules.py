"""Tagging rules: who carries a tag (a filter of the segment language) and how strong it is (a
weight over their events), applied to every contact as set-based SQL, range by range of ids.

A run is for one day: events count up to the end of that day in the brand's time zone, so
running a day again computes the same weights and changes nothing.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import (
    Float,
    and_,
    case,
    cast,
    column,
    delete,
    func,
    literal,
    not_,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from sojourn.data import segments
from sojourn.data.models import utcnow
from sojourn.dsl.durations import Duration, parse_duration
from sojourn.dsl.filters import PropertyCondition
from sojourn.dsl.send_windows import first_zone

_RANGE = "tag_rule_range"  # a temporary table, one range's qualified contacts


def rule_source(rule_id: str) -> str:
    """What a rule's tags name as their source."""
    return f"rule:{rule_id}"


class Weight(BaseModel):
    """`count` of the contact's matching events, `sum` of one of their properties, or `decayed`:
    each event counts 1/2 per `half_life` of age, so recent behaviour weighs more."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["count", "sum", "decayed"]
    event: Annotated[str, Field(min_length=1, max_length=200)]
    where: list[PropertyCondition] = []
    property: str | None = None
    half_life: Duration | None = None

    @model_validator(mode="after")
    def _complete(self) -> Weight:
        if (self.kind == "sum") != (self.property is not None):
            raise ValueError("`property` goes with (and only with) a `sum` weight")
        if (self.kind == "decayed") != (self.half_life is not None):
            raise ValueError("`half_life` goes with (and only with) a `decayed` weight")
        return self


def day_that_ended(instant: datetime, brand_time_zone: str) -> date:
    """The brand's day that ended before `instant`: what a nightly run started at midnight is for."""
    return instant.astimezone(first_zone(brand_time_zone)).date() - timedelta(days=1)


def end_of_day(day: date, brand_time_zone: str) -> datetime:
    """The instant a day ends in the brand's time zone: what a run for that day counts up to."""
    zone = first_zone(brand_time_zone)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


async def who_qualifies(conn: AsyncConnection, filter: dict, as_of: datetime) -> ColumnElement:
    """A rule's filter as one SQL condition on contacts, its segment references loaded once per run."""
    parsed = segments.parse_filter(filter)
    return segments.compile_filter(parsed, now=as_of, segments=await segments.load_references(conn, [parsed]))


async def apply_range(conn: AsyncConnection, rule_id: str, tag: str, qualifies: ColumnElement, weight: Weight,
                      as_of: datetime, low: int, high: int) -> tuple[int, int, int]:
    """Apply one rule to contacts with `low <= id < high`, inside the caller's transaction;
    returns (tagged, changed, removed)."""
    contacts, events, tags = segments.contacts_table, segments.events_table, segments.tags_table
    # Who qualifies is asked once per range: the upsert and the delete both read this table.
    await conn.execute(text(f"CREATE TEMPORARY TABLE {_RANGE} (contact_id bigint PRIMARY KEY) ON COMMIT DROP"))
    qualified = table(_RANGE, column("contact_id"))
    tagged = (await conn.execute(insert(qualified).from_select(["contact_id"], select(contacts.c.id).where(
        contacts.c.id >= low, contacts.c.id < high, qualifies)))).rowcount
    e = events.c
    matching = [e.contact_id == qualified.c.contact_id, e.name == weight.event, e.occurred_at < as_of,
                *(segments.compare_sql(c.op, segments.event_value(c.property), c.value)
                  for c in weight.where)]
    if weight.kind == "count":
        measure = func.count(e.contact_id)
    elif weight.kind == "sum":
        value = segments.event_value(weight.property)
        measure = func.coalesce(func.sum(case((value.typeof() == "number", value.number()), else_=0)), 0)
    else:
        age = func.extract("epoch", literal(as_of) - e.occurred_at)
        measure = func.coalesce(func.sum(func.exp(-math.log(2) * age / parse_duration(weight.half_life)
                                                  .total_seconds())), 0)
    weights = (select(qualified.c.contact_id, cast(measure, Float).label("weight"))
               .select_from(qualified.outerjoin(events, and_(*matching)))
               .group_by(qualified.c.contact_id).cte("weights"))
    source = rule_source(rule_id)
    row = insert(tags).from_select(
        ["contact_id", "tag", "weight", "source", "updated_at"],
        select(weights.c.contact_id, literal(tag), weights.c.weight, literal(source), literal(utcnow())))
    upsert = row.on_conflict_do_update(
        index_elements=["contact_id", "tag"],
        set_={"weight": row.excluded.weight, "source": row.excluded.source, "updated_at": row.excluded.updated_at},
        where=(tags.c.weight.is_distinct_from(row.excluded.weight)
               | tags.c.source.is_distinct_from(row.excluded.source))).returning(tags.c.contact_id)
    changed = len((await conn.execute(upsert)).all())
    mine = (tags.c.tag == tag, tags.c.source == source, tags.c.contact_id >= low, tags.c.contact_id < high)
    removed = len((await conn.execute(
        delete(tags).where(*mine, not_(tags.c.contact_id.in_(select(qualified.c.contact_id))))
        .returning(tags.c.contact_id))).all())
    return tagged, changed, removed
