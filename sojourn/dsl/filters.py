"""The filter language of segments and journey conditions: pydantic models, pure and workflow-safe.

    {"and": [...]} | {"or": [...]} | {"not": {...}}
    {"attribute": "city", "op": "eq", "value": "Kaohsiung"}
    {"tag": "oily-skin", "min_weight": 3}
    {"event": "purchase", "where": [{"property": "sku", "op": "in", "value": ["a", "b"]}],
     "min_count": 2, "max_count": null, "within": "30d"}
    {"engagement": "opened", "journey": "mothers-day", "node": "preview"}
    {"segment": "vip"}
    {"score": "purchase_30d", "op": "gte", "value": 0.7}

A score is a model's prediction for the contact (`contact_predictions`), compared as a number;
a contact without that score matches no score condition (`ne` included).

The comparison operators (`op`) and their meanings are declared in `sojourn.dsl.operators`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from sojourn.dsl.durations import Duration
from sojourn.dsl.operators import Op, compare, is_number, value_problem

# Contact columns a filter may name; any other name is a key of `attributes`.
CONTACT_FIELDS = ("external_id", "email", "phone", "first_name", "last_name", "time_zone", "created_at")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Comparison(_Strict):
    op: Op = "eq"
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self):
        problem = value_problem(self.op, self.value)
        if problem is not None:
            raise ValueError(problem)
        return self


class PropertyCondition(_Comparison):
    """A condition on one property of an event (`a.b` reaches into nested objects)."""

    property: Annotated[str, Field(min_length=1, max_length=200)]


class AttributeFilter(_Comparison):
    attribute: Annotated[str, Field(min_length=1, max_length=200)]


class TagFilter(_Strict):
    tag: Annotated[str, Field(min_length=1, max_length=100)]
    min_weight: float | None = None


class EventFilter(_Strict):
    """Performed `event` (with property conditions) at least / at most n times, within a window."""

    event: Annotated[str, Field(min_length=1, max_length=200)]
    where: list[PropertyCondition] = []
    min_count: Annotated[int, Field(ge=0)] = 1
    max_count: Annotated[int | None, Field(ge=0)] = None
    within: Duration | None = None  # back from now: "30d"
    since: datetime | None = None
    until: datetime | None = None


    @model_validator(mode="after")
    def _counts(self):
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError("`max_count` is smaller than `min_count`")
        for bound in (self.since, self.until):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("`since` / `until` need a time zone")
        return self


class EngagementFilter(_Strict):
    """Received / opened / clicked a message of a journey (optionally of one send node)."""

    engagement: Literal["received", "opened", "clicked"]
    journey: str
    node: str | None = None


# The operators a score takes: numbers only.
SCORE_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")


class ScoreFilter(_Strict):
    """A model's prediction for the contact (`purchase_30d`, `purchase_30d.decile`) compared with a number."""

    score: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")]
    op: Literal[SCORE_OPS]  # type: ignore[valid-type]
    value: Any

    @model_validator(mode="after")
    def _number_value(self):
        if self.op == "between":
            problem = value_problem("between", self.value)
            if problem is None and not all(v is None or is_number(v) for v in self.value):
                problem = "`between` of a score needs numbers: [low, high]; either end may be null"
        else:
            problem = None if is_number(self.value) else f"`{self.op}` of a score needs a number value"
        if problem is not None:
            raise ValueError(problem)
        return self


# What a segment (or segment set) id may be: the API refuses others, and a journey naming
# another is told no such segment exists.
SEGMENT_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
SEGMENT_ID_MAX = 64


class SegmentFilter(_Strict):
    segment: str


class AndFilter(_Strict):
    and_: Annotated[list["Filter"], Field(alias="and", min_length=1)]


class OrFilter(_Strict):
    or_: Annotated[list["Filter"], Field(alias="or", min_length=1)]


class NotFilter(_Strict):
    not_: Annotated["Filter", Field(alias="not")]


_KINDS = ("and", "or", "not", "attribute", "tag", "event", "engagement", "segment", "score")


def _kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True)
    if not isinstance(value, dict):
        return None
    present = [k for k in _KINDS if k in value]
    return present[0] if len(present) == 1 else None


Filter = Annotated[
    Union[
        Annotated[AndFilter, Tag("and")],
        Annotated[OrFilter, Tag("or")],
        Annotated[NotFilter, Tag("not")],
        Annotated[AttributeFilter, Tag("attribute")],
        Annotated[TagFilter, Tag("tag")],
        Annotated[EventFilter, Tag("event")],
        Annotated[EngagementFilter, Tag("engagement")],
        Annotated[SegmentFilter, Tag("segment")],
        Annotated[ScoreFilter, Tag("score")],
    ],
    Discriminator(
        _kind,
        custom_error_type="filter_kind",
        custom_error_message="a filter has exactly one of: and, or, not, attribute, tag, event, engagement, segment, "
                             "score",
    ),
]

AndFilter.model_rebuild()
OrFilter.model_rebuild()
NotFilter.model_rebuild()


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """(present, value) of a dotted path in nested dicts."""
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return False, None
        data = data[part]
    return True, data


def properties_match(conditions: list[PropertyCondition], properties: dict) -> bool:
    """All conditions hold on an event's properties."""
    return all(compare(c.op, *lookup(properties, c.property), c.value) for c in conditions)


_FILTER_ADAPTER: Any = None


def parse_filter(raw: Any) -> Filter:
    """Validate a stored or submitted filter (raises pydantic's ValidationError)."""
    global _FILTER_ADAPTER
    if _FILTER_ADAPTER is None:
        from pydantic import TypeAdapter

        _FILTER_ADAPTER = TypeAdapter(Filter)
    return _FILTER_ADAPTER.validate_python(raw)
