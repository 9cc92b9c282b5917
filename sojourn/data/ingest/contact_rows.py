"""A contact import's rows: each record of the streamed body (read by `records`) checked
into a `ContactRow` or rejected with its line number and reason."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

from sojourn.data.ingest.contact_fields import e164_phone, email_problem
from sojourn.data.ingest.records import ImportFormatError, ImportSummary, records
from sojourn.data.ingest.text import external_id_problem, text_problem, to_json_text

__all__ = ["CONTACT_FIELDS", "ContactRow", "ImportFormatError", "ImportSummary", "contact_row", "contact_rows"]

CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "time_zone")
_MAX_LENGTH = {"email": 320, "phone": 32, "first_name": 200, "last_name": 200,
               "time_zone": 64}


@dataclass
class ContactRow:
    external_id: str
    fields: dict[str, str]
    attributes: dict[str, Any]
    attributes_json: str = "{}"


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def contact_row(values: dict[str, Any], keep_types: bool, phone_region: str | None = None) -> ContactRow:
    """A contact from one CSV record or NDJSON object; ValueError("field: reason") if bad.

    `keep_types` (NDJSON) keeps attribute values as JSON gave them, null included; CSV
    values are strings and empty cells are left out. Phone numbers are stored in E.164,
    read in `phone_region` when they have no country code."""
    ext = values.get("external_id")
    if keep_types and isinstance(ext, int) and not isinstance(ext, bool):
        ext = str(ext)
    if ext is None or ext == "":
        raise ValueError("external_id: required")
    if not isinstance(ext, str):
        raise ValueError("external_id: must be a string")
    if problem := external_id_problem(ext):
        raise ValueError(f"external_id: {problem}")
    fields: dict[str, str] = {}
    attributes: dict[str, Any] = {}
    for key, value in values.items():
        if key == "external_id":
            continue
        if key in _MAX_LENGTH:
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise ValueError(f"{key}: must be a string")
            _check_text(key, value)
            if key == "email" and (problem := email_problem(value)):
                raise ValueError(f"email: {problem}")
            if key == "phone":
                try:
                    value = e164_phone(value, phone_region)
                except ValueError as err:
                    raise ValueError(f"phone: {err}") from None
            if key == "time_zone" and value not in _time_zones():
                raise ValueError(f"time_zone: unknown time zone {value!r}")
            fields[key] = value
        elif keep_types or value != "":
            if problem := text_problem(key):
                raise ValueError(f"{key[:50]}: column name {problem}")
            attributes[key] = value
    return ContactRow(ext, fields, attributes)


def _check_text(key: str, value: str) -> None:
    if len(value) > _MAX_LENGTH[key]:
        raise ValueError(f"{key}: at most {_MAX_LENGTH[key]} characters")
    if problem := text_problem(value):
        raise ValueError(f"{key}: {problem}")


def contact_rows(stream: AsyncIterable[bytes], fmt: str, summary: ImportSummary, phone_region: str | None = None
                 ) -> AsyncIterator[tuple[int, ContactRow | None]]:
    """(line number, row) for each record of a CSV (`fmt="csv"`) or NDJSON (`"ndjson"`) body
    as it streams; the row is None if rejected (the reason is in `summary`). Raises
    ImportFormatError if the body cannot be read at all."""
    def validate(values: dict[str, Any], keep_types: bool) -> ContactRow:
        row = contact_row(values, keep_types, phone_region)
        row.attributes_json = _attributes_json(row.attributes)
        return row

    return records(stream, fmt, summary, "external_id", validate)


def _attributes_json(attributes: dict[str, Any]) -> str:
    try:
        return to_json_text(attributes)
    except ValueError as err:
        raise ValueError(f"attributes: {err}") from None
