"""The comparison operators of the filter language: the one registry every other list derives from.

Each operator is declared once, in `OPERATORS`, with the values it accepts and its meaning in
Python. Its meaning in SQL sits in `sojourn.data.segments.operators`, in a table keyed by the
same names that refuses to load unless it covers exactly these operators.

Why the SQL meaning is not a field here: this package is imported by journey workflows inside
the Temporal sandbox and must stay pure (no SQLAlchemy), and `sojourn.data` may import the
language but not the reverse. A Python callable here that builds SQL from objects passed in
would keep both in one file, but it would move SQL into the language layer; a table keyed by
name in the data layer keeps each layer's code where it runs, and the completeness check makes
a forgotten SQL meaning fail at import (every test, every worker start), not at query time.

Shared rule: a missing value and JSON null never satisfy a comparison, so the negations (`ne`,
`not_in`) are true for them, and `exists` is the only operator that asks about presence.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

# -- JSON values, as both evaluators read them ----------------------------------------------


def is_number(value: Any) -> bool:
    """A JSON number (booleans are not numbers, as in JSON)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_datetime(value: Any) -> datetime | None:
    """The instant an ISO 8601 string with a time zone names, else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: numbers numerically, booleans only booleans, others by type and value."""
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return type(a) is type(b) and a == b


# -- the operator type --------------------------------------------------------------------

# A value check returns what is wrong with the value, worded to follow the operator's name
# ("needs a list value" becomes "`in` needs a list value"), or None when the value fits.
ValueCheck = Callable[[Any], str | None]
# The Python meaning: (present, actual, value) -> whether the actual value satisfies the comparison.
Meaning = Callable[[bool, Any, Any], bool]


@dataclass(frozen=True, kw_only=True)
class Operator:
    name: str
    check: ValueCheck
    holds: Meaning


# -- value checks -------------------------------------------------------------------------


def _any_value(value: Any) -> str | None:
    return None


def _list(value: Any) -> str | None:
    return None if isinstance(value, list) else "needs a list value"


def _number(value: Any) -> str | None:
    return None if is_number(value) else "needs a number value; use `between` for dates"


def _flag(value: Any) -> str | None:
    return None if value in (None, True, False) else "takes no value (or true / false)"


def _bounds(value: Any) -> str | None:
    if not (isinstance(value, list) and len(value) == 2 and any(v is not None for v in value)):
        return "needs [low, high]; either end may be null"
    if not all(v is None or is_number(v) or as_datetime(v) is not None for v in value):
        return "ends must be numbers or ISO 8601 datetimes with a time zone"
    return None


# -- Python meanings ----------------------------------------------------------------------


def _on_value(test: Callable[[Any, Any], bool]) -> Meaning:
    """A comparison of a present, non-null value (the shared rule)."""
    return lambda present, actual, value: present and actual is not None and test(actual, value)


def _negation(positive: Meaning) -> Meaning:
    return lambda present, actual, value: not positive(present, actual, value)


def _numeric(test: Callable[[Any, Any], bool]) -> Meaning:
    return _on_value(lambda actual, value: is_number(actual) and test(actual, value))


def _contains(actual: Any, value: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(value, str) and value in actual
    if isinstance(actual, list):
        return any(json_equal(item, value) for item in actual)
    return False


def _exists(present: bool, actual: Any, value: Any) -> bool:
    exists = present and actual is not None
    return exists if value in (None, True) else not exists


def _between(actual: Any, value: list[Any]) -> bool:
    low, high = value
    bounds = [b for b in (low, high) if b is not None]
    if all(is_number(b) for b in bounds):
        if not is_number(actual):
            return False
        point = actual
    else:
        # Datetime bounds; an end that is not a datetime leaves that side open.
        point = as_datetime(actual)
        if point is None:
            return False
        low, high = (as_datetime(b) if b is not None else None for b in (low, high))
    return (low is None or point >= low) and (high is None or point <= high)


_equal = _on_value(json_equal)
_one_of = _on_value(lambda actual, value: any(json_equal(actual, candidate) for candidate in value))

# -- the registry -------------------------------------------------------------------------

# The order is the order the API lists the operators in its error messages.
OPERATORS: dict[str, Operator] = {op.name: op for op in (
    Operator(name="eq", check=_any_value, holds=_equal),
    Operator(name="ne", check=_any_value, holds=_negation(_equal)),
    Operator(name="in", check=_list, holds=_one_of),
    Operator(name="not_in", check=_list, holds=_negation(_one_of)),
    Operator(name="gt", check=_number, holds=_numeric(operator.gt)),
    Operator(name="gte", check=_number, holds=_numeric(operator.ge)),
    Operator(name="lt", check=_number, holds=_numeric(operator.lt)),
    Operator(name="lte", check=_number, holds=_numeric(operator.le)),
    Operator(name="contains", check=_any_value, holds=_on_value(_contains)),
    Operator(name="exists", check=_flag, holds=_exists),
    Operator(name="between", check=_bounds, holds=_on_value(_between)),
)}

# The operator names as the type of a filter's `op` (`Literal[("a", "b")]` is `Literal["a", "b"]`):
# pydantic validates it and lists the names in its error; static checkers cannot read it.
Op = Literal[tuple(OPERATORS)]  # type: ignore[valid-type]


def value_problem(op: str, value: Any) -> str | None:
    """Why `value` does not fit `op` (a sentence naming the operator), or None."""
    problem = OPERATORS[op].check(value)
    return f"`{op}` {problem}" if problem is not None else None


def compare(op: str, present: bool, actual: Any, value: Any) -> bool:
    """Whether a value (`present` false when missing) satisfies `op value`: the definition
    of every operator, which the SQL of `sojourn.data.segments` must match."""
    operator_ = OPERATORS.get(op)
    if operator_ is None:
        raise ValueError(f"unknown operator {op!r}")
    return operator_.holds(present, actual, value)
