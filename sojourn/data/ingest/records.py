"""Reading an import as it streams in, whatever it holds (contacts, products): lines, CSV
records or NDJSON objects, each checked by the caller's `validate` into a row or rejected with
its line number and reason. Bad rows are counted and listed; the rest go on."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sojourn.data.ingest.text import loads_strict

REJECTED_LIST_MAX = 1_000
MAX_LINE_BYTES = 1_000_000

Row = TypeVar("Row")
# (values of one record, keep_types) -> the row, or ValueError("field: reason"). `keep_types` is
# True for NDJSON (values as JSON gave them), False for CSV (every value a string).
Validate = Callable[[dict[str, Any], bool], Row]


class ImportFormatError(ValueError):
    """The import as a whole cannot be read (no header, no key column...)."""


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


def records(stream: AsyncIterable[bytes], fmt: str, summary: ImportSummary, key: str, validate: Validate[Row]
            ) -> AsyncIterator[tuple[int, Row | None]]:
    """(line number, row) for each record of a CSV (`fmt="csv"`, whose header must name the
    `key` column) or NDJSON (`"ndjson"`) body as it streams; the row is None if rejected (the
    reason is in `summary`). Raises ImportFormatError if the body cannot be read at all."""
    lines = _lines(stream, summary)
    if fmt == "csv":
        return _csv_rows(lines, summary, key, validate)
    return _ndjson_rows(lines, summary, validate)


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


async def _csv_rows(lines: AsyncIterator[tuple[int, str]], summary: ImportSummary, key: str, validate: Validate[Row]
                    ) -> AsyncIterator[tuple[int, Row | None]]:
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
                header = _csv_header(fields, key)
                continue
            summary.rows += 1
            if error is not None:
                summary.reject(number, error)
            elif len(fields) != len(header):
                summary.reject(number, f"expected {len(header)} columns, got {len(fields)}")
            else:
                yield number, _validated(number, dict(zip(header, fields)), False, summary, validate)
    if header is None:
        raise ImportFormatError("the CSV has no header row (the first line names the columns)")


def _csv_header(fields: list[str], key: str) -> list[str]:
    names = [name.strip() for name in fields]
    if key not in names:
        raise ImportFormatError(f"the CSV header has no '{key}' column")
    if "" in names:
        raise ImportFormatError(f"the CSV header has an empty column name (column {names.index('') + 1})")
    seen = set()
    for name in names:
        if name in seen:
            raise ImportFormatError(f"the CSV header names column '{name}' twice")
        seen.add(name)
    return names


async def _ndjson_rows(lines: AsyncIterator[tuple[int, str]], summary: ImportSummary, validate: Validate[Row]
                       ) -> AsyncIterator[tuple[int, Row | None]]:
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
        yield number, _validated(number, value, True, summary, validate)


def _validated(number: int, values: dict[str, Any], keep_types: bool, summary: ImportSummary,
               validate: Validate[Row]) -> Row | None:
    try:
        return validate(values, keep_types)
    except ValueError as err:
        summary.reject(number, str(err))
        return None
