"""Reading a contact import as it streams in: lines, CSV records or NDJSON objects, each
checked into a `ContactRow` or rejected with its line number and reason."""

from __future__ import annotations

import csv
import functools
import zoneinfo
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sojourn.data.ingest.contact_fields import e164_phone, email_problem
from sojourn.data.ingest.text import external_id_problem, loads_strict, text_problem, to_json_text

REJECTED_LIST_MAX = 1_000
MAX_LINE_BYTES = 1_000_000
CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "time_zone")
_MAX_LENGTH = {"email": 320, "phone": 32, "first_name": 200, "last_name": 200,
               "time_zone": 64}


class ImportFormatError(ValueError):
    """The import as a whole cannot be read (no header, no external_id column...)."""


@dataclass
class ImportSummary:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    rejected_total: int = 0

    def reject(self, line: int, reason: str) -> None:
        self.rejected_total += 1
        if len(self.rejected) < REJECTED_LIST_MAX:
            self.rejected.append({"line": line, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "inserted": self.inserted, "updated": self.updated,
                "unchanged": self.unchanged, "rejected": self.rejected,
                "rejected_omitted": self.rejected_total - len(self.rejected)}


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
    lines = _lines(stream, summary)
    if fmt == "csv":
        return _csv_rows(lines, summary, phone_region)
    return _ndjson_rows(lines, summary, phone_region)


async def _lines(stream: AsyncIterable[bytes], summary: ImportSummary) -> AsyncIterator[tuple[int, str]]:
    """(line number, text with its newline) for each physical line of the body, as it streams.
    A line that is not UTF-8 or longer than MAX_LINE_BYTES is rejected here and skipped."""
    buffer = b""
    number = 0
    overlong = False
    async for chunk in stream:
        if not chunk:
            continue
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            number += 1
            if overlong:
                overlong = False
                summary.rows += 1
                summary.reject(number, f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            decoded = _decode(raw + b"\n", number, summary)
            if decoded is not None:
                yield number, decoded
        if len(buffer) > MAX_LINE_BYTES:
            overlong, buffer = True, b""
    if overlong:
        summary.rows += 1
        summary.reject(number + 1, f"line longer than {MAX_LINE_BYTES} bytes")
    elif buffer:
        decoded = _decode(buffer, number + 1, summary)
        if decoded is not None:
            yield number + 1, decoded


def _decode(raw: bytes, number: int, summary: ImportSummary) -> str | None:
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # the byte order mark spreadsheets write
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        summary.rows += 1
        summary.reject(number, f"not valid UTF-8 (byte {err.start + 1})")
        return None


def _parse_csv(lines: list[tuple[int, str]], final: bool) -> tuple[list[tuple[int, list[str] | None, str | None]], int]:
    """CSV records of `lines` as (first line number, fields or None, error or None), and how
    many lines were used. Unless `final`, the last record is held back (it may continue in
    lines not read yet): the caller passes its lines again with the next ones."""
    reader = csv.reader((text for _, text in lines), strict=True)
    records: list[tuple[int, int, list[str] | None, str | None]] = []  # (start idx, end idx, ...)
    start = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            end = reader.line_num
            records.append((start, end, None, f"malformed CSV: {err}"))
        else:
            end = reader.line_num
            records.append((start, end, fields, None))
        start = end
    if not final and records:
        records.pop()
    used = records[-1][1] if records else 0
    return [(lines[s][0], fields, error) for s, _, fields, error in records if fields != []], used


async def _csv_rows(lines: AsyncIterator[tuple[int, str]], summary: ImportSummary, phone_region: str | None
                    ) -> AsyncIterator[tuple[int, ContactRow | None]]:
    header: list[str] | None = None
    pending: list[tuple[int, str]] = []
    more = True
    while more:
        try:
            pending.append(await anext(lines))
            if len(pending) < (2 if header is None else 1024):
                continue
        except StopAsyncIteration:
            more = False
        records, used = _parse_csv(pending, final=not more)
        pending = pending[used:]
        for number, fields, error in records:
            if header is None:
                if error is not None:
                    raise ImportFormatError(f"the header row (line {number}) is not valid CSV: {error}")
                header = _csv_header(fields)
                continue
            summary.rows += 1
            if error is not None:
                summary.reject(number, error)
            elif len(fields) != len(header):
                summary.reject(number, f"expected {len(header)} columns, got {len(fields)}")
            else:
                yield number, _validated(number, dict(zip(header, fields)), False, summary, phone_region)
    if header is None:
        raise ImportFormatError("the CSV has no header row (the first line names the columns)")


def _csv_header(fields: list[str]) -> list[str]:
    names = [name.strip() for name in fields]
    if "external_id" not in names:
        raise ImportFormatError("the CSV header has no 'external_id' column")
    if "" in names:
        raise ImportFormatError(f"the CSV header has an empty column name (column {names.index('') + 1})")
    seen = set()
    for name in names:
        if name in seen:
            raise ImportFormatError(f"the CSV header names column '{name}' twice")
        seen.add(name)
    return names


async def _ndjson_rows(lines: AsyncIterator[tuple[int, str]], summary: ImportSummary, phone_region: str | None
                       ) -> AsyncIterator[tuple[int, ContactRow | None]]:
    async for number, text in lines:
        if not text.strip():
            continue
        summary.rows += 1
        try:
            value = loads_strict(text)
        except ValueError as err:
            summary.reject(number, f"invalid JSON: {err}")
            continue
        if not isinstance(value, dict):
            summary.reject(number, "each line must be a JSON object")
            continue
        yield number, _validated(number, value, True, summary, phone_region)


def _validated(number: int, values: dict[str, Any], keep_types: bool, summary: ImportSummary,
               phone_region: str | None) -> ContactRow | None:
    try:
        row = contact_row(values, keep_types, phone_region)
        row.attributes_json = _attributes_json(row.attributes)
    except ValueError as err:
        summary.reject(number, str(err))
        return None
    return row


def _attributes_json(attributes: dict[str, Any]) -> str:
    try:
        return to_json_text(attributes)
    except ValueError as err:
        raise ValueError(f"attributes: {err}") from None
