"""The filter language of segments and journey conditions: pydantic models, pure and workflow-safe.

    {"and": [...]} | {"or": [...]} | {"not": {...}}
    {"attribute": "city", "op": "eq", "value": "Kaohsiung"}
    {"tag": "oily-skin", "min_weight": 3}
    {"event": "purchase", "where": [{"property": "sku", "op": "in", "value": ["a", "b"]}],
     "min_count": 2, "max_count": null, "within": "30d"}
    {"engagement": "opened", "journey": "mothers-day", "node": "preview"}
    {"segment": "vip"}

Operators mean the same wherever they are evaluated (SQL in `sojourn.segments`, Python in
journeys and in the reference evaluator of the tests); `compare` is the definition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from sojourn.dsl.durations import Duration

Op = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "exists", "between"]

# Contact columns a filter may name; any other name is a key of `attributes`.
CONTACT_FIELDS = ("external_id", "email", "phone", "first_name", "last_name", "time_zone", "created_at")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Comparison(_Strict):
    op: Op = "eq"
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self):
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"`{self.op}` needs a list value")
        if self.op in ("gt", "gte", "lt", "lte") and not _is_number(self.value):
            raise ValueError(f"`{self.op}` needs a number value; use `between` for dates")
        if self.op == "between":
            if not (isinstance(self.value, list) and len(self.value) == 2 and any(v is not None for v in self.value)):
                raise ValueError("`between` needs [low, high]; either end may be null")
            if not all(v is None or _is_number(v) or _as_datetime(v) is not None for v in self.value):
                raise ValueError("`between` ends must be numbers or ISO 8601 datetimes with a time zone")
        if self.op == "exists" and self.value not in (None, True, False):
            raise ValueError("`exists` takes no value (or true / false)")
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


class SegmentFilter(_Strict):
    segment: str


class AndFilter(_Strict):
    and_: Annotated[list["Filter"], Field(alias="and", min_length=1)]


class OrFilter(_Strict):
    or_: Annotated[list["Filter"], Field(alias="or", min_length=1)]


class NotFilter(_Strict):
    not_: Annotated["Filter", Field(alias="not")]


_KINDS = ("and", "or", "not", "attribute", "tag", "event", "engagement", "segment")


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
    ],
    Discriminator(
        _kind,
        custom_error_type="filter_kind",
        custom_error_message="a filter has exactly one of: and, or, not, attribute, tag, event, engagement, segment",
    ),
]

AndFilter.model_rebuild()
OrFilter.model_rebuild()
NotFilter.model_rebuild()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """(present, value) of a dotted path in nested dicts."""
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return False, None
        data = data[part]
    return True, data


def compare(op: Op, present: bool, actual: Any, value: Any) -> bool:
    """The meaning of every operator. Missing values and JSON null never satisfy a
    comparison, so `ne` and `not_in` are true for them (they are negations)."""
    if op == "exists":
        exists = present and actual is not None
        return exists if value in (None, True) else not exists
    if op == "ne":
        return not compare("eq", present, actual, value)
    if op == "not_in":
        return not compare("in", present, actual, value)
    if not present or actual is None:
        return False
    if op == "eq":
        return _json_equal(actual, value)
    if op == "in":
        return any(_json_equal(actual, candidate) for candidate in value)
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(value, str) and value in actual
        if isinstance(actual, list):
            return any(_json_equal(item, value) for item in actual)
        return False
    if op in ("gt", "gte", "lt", "lte"):
        if not _is_number(actual):
            return False
        return {"gt": actual > value, "gte": actual >= value, "lt": actual < value, "lte": actual <= value}[op]
    if op == "between":
        low, high = value
        bounds = [b for b in (low, high) if b is not None]
        if all(_is_number(b) for b in bounds):
            if not _is_number(actual):
                return False
            number = actual
        else:
            number = _as_datetime(actual)
            if number is None:
                return False
            low, high = _as_datetime(low) if low is not None else None, _as_datetime(high) if high is not None else None
        return (low is None or number >= low) and (high is None or number <= high)
    raise ValueError(f"unknown operator {op!r}")


def _json_equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return type(a) is type(b) and a == b


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
