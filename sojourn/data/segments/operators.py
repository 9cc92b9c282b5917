"""The SQL meaning of every operator of the filter language, beside the Python one in `sojourn.dsl.operators`.

Each entry builds, from a JSON value of a contact or an event and the filter's value, a boolean
expression that is never NULL (missing or JSON-null values give false, not unknown), so `NOT`
means exactly Python's `not` and the negations are true for missing values, as the Python
meaning defines. The language layer cannot hold these (it must not import SQLAlchemy), so they
are keyed by operator name here, and this module refuses to load unless the keys are exactly
the registry's operators.

An equality on a scalar is written as containment (`attributes @> '{"city": "Taipei"}'`), which
is exactly JSON equality for scalars (numbers numerically, strings exactly, booleans only
booleans) and can use the GIN index of migration 0002. Every other operator checks
`jsonb_typeof` first (inside CASE, so no cast can fail), so a string "5" never equals or
exceeds the number 5.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy import Boolean, ColumnElement, and_, case, exists, false, func, literal, not_, or_, select, true

from sojourn.data.segments.values import JsonValue, json_constant, number_constant
from sojourn.dsl.operators import OPERATORS, as_datetime, is_number

# (the JSON value, the filter's value) -> a boolean expression, never NULL.
SqlMeaning = Callable[[JsonValue, Any], ColumnElement]


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _nested(path: list[str], value: Any) -> dict:
    doc: Any = value
    for part in reversed(path):
        doc = {part: doc}
    return doc


def _eq(value: JsonValue, expected: Any) -> ColumnElement:
    if expected is None:
        return false()  # null never satisfies a comparison
    if value.doc is not None:
        contained = value.doc.op("@>", return_type=Boolean)(json_constant(_nested(value.path, expected)))
        if _is_scalar(expected):
            return contained  # scalar containment is JSON equality, and uses the GIN index
        return and_(contained, value.json == json_constant(expected))
    return and_(value.json.isnot(None), value.json == json_constant(expected))


def _in(value: JsonValue, expected: list[Any]) -> ColumnElement:
    options = [_eq(value, candidate) for candidate in expected if candidate is not None]
    return or_(*options) if options else false()


def _negation(positive: SqlMeaning) -> SqlMeaning:
    return lambda value, expected: not_(positive(value, expected))


def _numeric(test: Callable[[Any, Any], ColumnElement]) -> SqlMeaning:
    return lambda value, expected: case((value.is_type("number"), test(value.number(), number_constant(expected))),
                                        else_=false())


def _contains(value: JsonValue, expected: Any) -> ColumnElement:
    options = []
    if isinstance(expected, str):
        options.append(case((value.is_type("string"), func.strpos(value.text, expected) > 0), else_=false()))
    if value.doc is not None:
        if _is_scalar(expected) or expected is None:
            # An array holding the scalar: containment of a one-element array is element equality here.
            options.append(value.doc.op("@>", return_type=Boolean)(json_constant(_nested(value.path, [expected]))))
        else:
            element = func.jsonb_array_elements(value.json).table_valued("value").alias("element")
            has = exists(select(literal(1)).select_from(element).where(element.c.value == json_constant(expected)))
            options.append(case((value.is_type("array"), has), else_=false()))
    return or_(*options) if options else false()


def _exists(value: JsonValue, expected: Any) -> ColumnElement:
    exists_ = and_(value.json.isnot(None), value.typeof() != "null")  # never NULL
    return exists_ if expected in (None, True) else not_(exists_)


def _between(value: JsonValue, bounds: list[Any]) -> ColumnElement:
    low, high = bounds
    present = [b for b in (low, high) if b is not None]
    if all(is_number(b) for b in present):
        number = value.number()
        checks = [number >= number_constant(low) if low is not None else true(),
                  number <= number_constant(high) if high is not None else true()]
        return case((value.is_type("number"), and_(*checks)), else_=false())
    # Datetime bounds; as in Python, an end that is not a datetime leaves that side open.
    low_at, high_at = (as_datetime(b) if b is not None else None for b in (low, high))
    stamp = value.timestamp()
    checks = [stamp >= low_at if low_at is not None else true(), stamp <= high_at if high_at is not None else true()]
    return case((value.readable_timestamp(), and_(*checks)), else_=false())


SQL_MEANINGS: dict[str, SqlMeaning] = {
    "eq": _eq,
    "ne": _negation(_eq),
    "in": _in,
    "not_in": _negation(_in),
    "gt": _numeric(operator.gt),
    "gte": _numeric(operator.ge),
    "lt": _numeric(operator.lt),
    "lte": _numeric(operator.le),
    "contains": _contains,
    "exists": _exists,
    "between": _between,
}

if SQL_MEANINGS.keys() != OPERATORS.keys():
    raise ImportError("every operator of sojourn.dsl.operators needs exactly one SQL meaning here; "
                      f"missing {sorted(OPERATORS.keys() - SQL_MEANINGS.keys())}, "
                      f"unknown {sorted(SQL_MEANINGS.keys() - OPERATORS.keys())}")


def compare_sql(op: str, value: JsonValue, expected: Any) -> ColumnElement:
    """`sojourn.dsl.operators.compare` in SQL; never NULL."""
    meaning = SQL_MEANINGS.get(op)
    if meaning is None:
        raise ValueError(f"unknown operator {op!r}")
    return meaning(value, expected)
