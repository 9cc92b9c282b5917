"""Cron expressions as a scheduled journey writes them: `minute hour day month weekday`.

Temporal parses the expression only when the journey is activated and its Schedule created;
checked here, a field out of range is a problem of the definition, found when it is saved.
The rules are Temporal's, minus its extensions (a year or seconds field, `@daily`, `TZ=`,
`#`): each field is `*` or a comma list of values and `a-b` ranges, each optionally
`/step`; a range may not run backwards; months may be named by three or more letters
(`jan`, `June`) and weekdays by two or more (`mo`, `Mon`, `monday`); 0 and 7 are Sunday.
"""

from __future__ import annotations

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")
_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")

# (name, lowest, highest, names of lowest.., fewest letters of a name)
_FIELDS = (
    ("minute", 0, 59, (), 0),
    ("hour", 0, 23, (), 0),
    ("day", 1, 31, (), 0),
    ("month", 1, 12, _MONTHS, 3),
    ("weekday", 0, 7, _WEEKDAYS, 2),
)


def cron_problem(expression: str) -> str | None:
    """What is wrong with a cron expression, or None."""
    fields = expression.split()
    if len(fields) != len(_FIELDS):
        return f"a cron expression has 5 fields, minute hour day month weekday (got {expression[:100]!r})"
    for text, (name, low, high, names, letters) in zip(fields, _FIELDS):
        for part in text.split(","):
            problem = _part_problem(part, low, high, names, letters)
            if problem is not None:
                return f"cron {name} field {text[:40]!r}: {problem}"
    return None


def _part_problem(part: str, low: int, high: int, names: tuple[str, ...], letters: int) -> str | None:
    span, slash, step = part.partition("/")
    if slash and not 1 <= (_number(step) or 0) <= high:
        return f"the step after / is a whole number from 1 to {high} (got {step[:20]!r})"
    if span == "*":
        return None
    first, dash, last = span.partition("-")
    start = _value(first, names, letters, low)
    if start is None or not low <= start <= high:
        return _out_of_range(first, low, high, names)
    if dash:
        end = _value(last, names, letters, low)
        if end is None or not low <= end <= high:
            return _out_of_range(last, low, high, names)
        if end < start:
            return f"the range {span!r} runs backwards"
    return None


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdecimal() and len(text) <= 4 else None


def _value(text: str, names: tuple[str, ...], letters: int, low: int) -> int | None:
    if _number(text) is not None:
        return _number(text)
    if names and len(text) >= letters:
        found = next((index for index, name in enumerate(names) if name.startswith(text.lower())), None)
        return None if found is None else found + low
    return None


def _out_of_range(text: str, low: int, high: int, names: tuple[str, ...]) -> str:
    named = f", or a name like {names[0][:3]!r}" if names else ""
    return f"{text[:20]!r} is not a value from {low} to {high}{named}"
