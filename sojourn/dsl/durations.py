"""Durations as journey authors write them: `90m`, `36h`, `2d`, `1w`, or ISO 8601 `P2D`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator

_SHORT_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_ISO_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`2d`, `36h`, `90m`, `30s`, `1w`, or ISO 8601 (`P2D`, `PT36H`, `P1DT2H`)."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string like '2d' or 'P2D', got {text!r}")
    short = _SHORT_DURATION.match(text)
    if short:
        value = timedelta(seconds=float(short.group(1)) * _UNIT_SECONDS[short.group(2)])
    else:
        iso = _ISO_DURATION.match(text.strip().upper())
        if not iso or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
            raise ValueError(
                f"invalid duration {text!r}: use a number and unit (90m, 36h, 2d, 1w) "
                "or ISO 8601 (PT90M, P2D)"
            )
        parts = {k: float(v) for k, v in iso.groupdict().items() if v}
        value = timedelta(**parts)
    if value <= timedelta(0):
        raise ValueError(f"duration {text!r} must be greater than zero")
    return value


def _checked(text: str) -> str:
    parse_duration(text)
    return text


# A field holding a duration as written; checked when the model is validated.
Duration = Annotated[str, AfterValidator(_checked)]
