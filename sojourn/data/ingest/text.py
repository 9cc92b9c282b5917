"""What Postgres would refuse in text and JSON (NUL characters, lone surrogates, NaN),
found before a row is written so that only that row is rejected."""

from __future__ import annotations

import functools
import json
from typing import Any


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


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def to_json_text(value: Any) -> str:
    """Compact JSON for a jsonb column; ValueError if Postgres's jsonb would refuse it."""
    text = _ENCODER.encode(value)
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


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


loads_strict = functools.partial(json.loads, parse_constant=_reject_constant)
"""`json.loads` that refuses NaN and Infinity (not JSON; Postgres's jsonb refuses them too)."""
