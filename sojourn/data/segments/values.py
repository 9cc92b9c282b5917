"""JSON values of contacts and events in SQL: what the operators of `sojourn.data.segments.operators` compare."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Numeric, String, and_, case, cast, func, literal
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP

from sojourn.data.segments.tables import contacts_table, events_table

# Datetime text that both Python's `datetime.fromisoformat` (after Z -> +00:00) and Postgres
# read the same way, with a time zone: ISO 8601 extended format, 'T' or ' ' between date and
# time, minutes required, at most 6 fractional digits, offset Z / +HH / +HHMM / +HH:MM.
# Rarer forms Python also accepts (basic format, hour-only times, other separators, a space before the offset,
# 7+ fractional digits, offsets beyond +-15:59) count as "not a datetime" in SQL.
ISO_DATETIME = (r"^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
                r"(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)$")


def json_constant(value: Any) -> ColumnElement:
    """A JSON constant, bound as a parameter of type jsonb."""
    return literal(json.dumps(value), String).cast(JSONB)


def number_constant(value: int | float) -> ColumnElement:
    # Through the shortest repr, so a float compares to a stored JSON number exactly as Python would.
    return literal(Decimal(repr(value)) if isinstance(value, float) else value, Numeric)


class JsonValue:
    """One JSON value of a contact or an event: a key path in a JSONB document (`doc`) or a contact column.

    `json` is NULL when the value is missing; `text` is the string's text when it is a JSON string.
    """

    def __init__(self, json_value: ColumnElement, text: ColumnElement, doc: ColumnElement | None = None,
                 path: list[str] | None = None) -> None:
        self.json, self.text, self.doc, self.path = json_value, text, doc, path

    @classmethod
    def in_document(cls, doc: ColumnElement, dotted: str) -> JsonValue:
        path = dotted.split(".")
        parent = doc
        for part in path[:-1]:
            parent = parent.op("->")(literal(part, String))
        value = parent.op("->", return_type=JSONB)(literal(path[-1], String))
        text = parent.op("->>", return_type=String)(literal(path[-1], String))
        return cls(value, text, doc, path)

    @classmethod
    def contact_field(cls, name: str) -> JsonValue:
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


def event_value(dotted: str) -> JsonValue:
    """A property of an event (`a.b` reaches into nested objects), for `compare_sql` and weights."""
    return JsonValue.in_document(events_table.c.properties, dotted)
