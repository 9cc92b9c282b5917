"""What Postgres would refuse in text and JSON (NUL characters, lone surrogates, NaN), and
what would exhaust the stack of whoever reads it back (JSON nested too deeply), found before
a row is written so that only that row is rejected. External ids have a rule of their own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

# Far deeper than any definition, filter or set of properties needs; shallow enough that every
# recursive reader (pydantic, the filter compiler, JSON encoders, Postgres) stays well in its stack.
MAX_JSON_DEPTH = 64
TOO_DEEP = f"nested more than {MAX_JSON_DEPTH} levels deep"

EXTERNAL_ID_MAX = 255


def text_problem(value: str) -> str | None:
    """Why Postgres would refuse this text (NUL, lone surrogate), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode (lone surrogate)"
    return None


def external_id_problem(value: str) -> str | None:
    """Why this cannot be a contact's external id, or None. An id is one segment of the URLs
    that reach the contact (`/v1/contacts/{id}`) and of its runs' workflow ids
    (`journey/<journey>/<contact>/<key>`), so it never contains `/`."""
    if not value:
        return "must not be empty"
    if len(value) > EXTERNAL_ID_MAX:
        return f"at most {EXTERNAL_ID_MAX} characters"
    if "/" in value:
        return "must not contain '/'"
    return text_problem(value)


def json_problem(value: Any) -> tuple[str, str] | None:
    """(where, why) of the first thing in a parsed JSON value that is nested more than
    MAX_JSON_DEPTH levels deep or is text (a key or a string) Postgres would refuse; or None.
    `where` is the path of keys and indexes, dot-separated ("" for the value itself)."""
    for path, item, depth in _walk(value):
        if isinstance(item, str):
            if problem := text_problem(item):
                return ".".join(path), problem
        elif depth > MAX_JSON_DEPTH:
            return ".".join(path), TOO_DEEP
    return None


def _walk(value: Any) -> Iterator[tuple[tuple[str, ...], Any, int]]:
    """(path, item, depth) of every container, key and string, without recursion: the value
    may be nested deeper than the stack allows."""
    stack: list[tuple[tuple[str, ...], Any, int]] = [((), value, 0)]
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, dict):
            yield path, item, depth + 1
            for key, child in item.items():
                if isinstance(key, str):
                    yield (*path, key[:50]), key, depth + 1
                stack.append(((*path, str(key)[:50]), child, depth + 1))
        elif isinstance(item, list):
            yield path, item, depth + 1
            stack.extend(((*path, str(index)), child, depth + 1) for index, child in enumerate(item))
        elif isinstance(item, str):
            yield path, item, depth


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def to_json_text(value: Any) -> str:
    """Compact JSON for a jsonb column; ValueError if Postgres's jsonb would refuse it or it
    is nested more than MAX_JSON_DEPTH levels deep."""
    try:
        text = _ENCODER.encode(value)
    except RecursionError:
        raise ValueError(TOO_DEEP) from None
    # Each level opens a bracket: with few brackets in all the value cannot be too deep.
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        raise ValueError(TOO_DEEP)
    if "\\u0000" in text and _has_nul(value):
        raise ValueError("must not contain NUL characters")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode (lone surrogate)") from None
    return text


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _depth(value: Any) -> int:
    return max((depth for _, item, depth in _walk(value) if not isinstance(item, str)), default=0)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_strict(text: str | bytes) -> Any:
    """`json.loads` that refuses NaN and Infinity (not JSON; Postgres's jsonb refuses them too),
    and nesting deeper than the parser's stack, with a ValueError."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError(TOO_DEEP) from None
