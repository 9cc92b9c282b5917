"""Getting first-party data in fast, never lost and never doubled: event batches and bulk
contact imports.

Both paths work set-based on the raw asyncpg connection of the pool:

- events: per batch, one statement resolves (and, if allowed, creates) the contacts it
  names, one finds the event ids stored before, and the new rows are `COPY`ed into
  `events`; if a concurrent batch stored one of the same ids meanwhile, the COPY fails
  as a whole and `INSERT ... SELECT FROM unnest(...) ON CONFLICT (event_id) DO NOTHING
  RETURNING` stores the batch instead. Either way exactly the new events are known, so
  journeys hear of every event once.
- contacts: the body is parsed as it streams in (CSV or NDJSON), in chunks of
  `IMPORT_CHUNK_ROWS` valid rows; each chunk is `COPY`ed into a temporary staging table
  and merged into `contacts` with one `INSERT ... ON CONFLICT (external_id) DO UPDATE`,
  in its own transaction. A chunk commits before the next is read, so an import that
  fails half-way has loaded whole chunks only, and running it again is safe (an upsert).

Rows are written in key order (event ids, external ids), so concurrent batches that
overlap lock the same rows in the same order and cannot deadlock each other.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import re
import uuid
import zoneinfo
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.contracts.journey import ContactEvent

log = logging.getLogger(__name__)

EVENT_BATCH_MAX = 10_000
IMPORT_CHUNK_ROWS = 10_000
REJECTED_LIST_MAX = 1_000
MAX_LINE_BYTES = 1_000_000
CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "time_zone")
_MAX_LENGTH = {"external_id": 255, "email": 320, "phone": 32, "first_name": 200, "last_name": 200,
               "time_zone": 64}
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ATTEMPTS = 3  # a deadlock or serialization failure is retried (the whole batch, one transaction)


@asynccontextmanager
async def raw_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection under a pooled SQLAlchemy connection, returned to the pool after."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        yield raw.driver_connection


# ---------------------------------------------------------------- text checks

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


# ---------------------------------------------------------------- events

@dataclass
class EventRow:
    """A validated event of a batch; `index` is its position in the request."""

    index: int
    event_id: str
    contact: str
    name: str
    properties: dict[str, Any]
    properties_json: str
    occurred_at: datetime


@dataclass
class IngestedEvent:
    """An event as stored, handed on to journeys only once (never for a repeated event_id)."""

    event_id: str
    contact_id: int
    contact_external_id: str
    name: str
    properties: dict[str, Any]
    occurred_at: datetime

    def as_contact_event(self) -> ContactEvent:
        return ContactEvent(event_id=self.event_id, name=self.name, properties=self.properties,
                            occurred_at=self.occurred_at.isoformat())


@dataclass
class StoredEvents:
    inserted: list[IngestedEvent] = field(default_factory=list)
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    created_contacts: list[int] = field(default_factory=list)


def new_event_id() -> str:
    return uuid.uuid4().hex


_RESOLVE_CONTACTS = """
SELECT c.id, c.external_id FROM unnest($1::text[]) AS w(external_id) JOIN contacts c USING (external_id)
"""

_CREATE_CONTACTS = """
INSERT INTO contacts (external_id)
SELECT w.external_id FROM unnest($1::text[]) AS w(external_id)
ON CONFLICT (external_id) DO NOTHING
RETURNING id, external_id
"""

_EVENT_COLUMNS = ("event_id", "contact_id", "name", "properties", "occurred_at")

_KNOWN_EVENT_IDS = """
SELECT coalesce(array_agg(e.event_id), '{}') FROM unnest($1::text[]) AS w(event_id) JOIN events e USING (event_id)
"""

_INSERT_EVENTS = """
INSERT INTO events (event_id, contact_id, name, properties, occurred_at)
SELECT e.event_id, e.contact_id, e.name, e.properties::jsonb, e.occurred_at
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[])
     AS e(event_id, contact_id, name, properties, occurred_at)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


async def store_events(conn: asyncpg.Connection, rows: list[EventRow], auto_create: bool) -> StoredEvents:
    """Store a batch of validated events in one transaction; repeated event ids (stored
    before, or twice in the batch) are counted as duplicates and stored once."""
    bulk = True
    for attempt in range(1, _ATTEMPTS + 2):
        try:
            async with conn.transaction():
                return await _store_events(conn, rows, auto_create, bulk)
        except asyncpg.UniqueViolationError:
            if not bulk:
                raise
            # A concurrent request stored some of the same event ids after we looked:
            # the whole batch again, with INSERT ... ON CONFLICT DO NOTHING this time.
            log.info("event batch raced another with the same event ids; storing it with ON CONFLICT")
            bulk = False
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            if attempt >= _ATTEMPTS:
                raise
            log.warning("event batch retried after a deadlock or serialization failure (attempt %d)", attempt)
    raise AssertionError("unreachable")


async def _store_events(conn: asyncpg.Connection, rows: list[EventRow], auto_create: bool,
                        bulk: bool) -> StoredEvents:
    result = StoredEvents()
    first: dict[str, EventRow] = {}
    for row in rows:
        if row.event_id in first:
            result.duplicates += 1
        else:
            first[row.event_id] = row
    unique_rows = list(first.values())
    contacts, created = await resolve_contacts(conn, {row.contact for row in unique_rows}, auto_create)
    result.created_contacts = created
    storable = []
    for row in unique_rows:
        if row.contact in contacts:
            storable.append(row)
        else:
            result.rejected.append((row.index, f"contact: no contact with external id '{row.contact}'"))
    if not storable:
        return result
    storable.sort(key=lambda r: r.event_id)  # key order: overlapping batches never deadlock
    inserted = await _insert_events(conn, storable, contacts, bulk)
    result.duplicates += len(storable) - len(inserted)
    result.inserted = [
        IngestedEvent(event_id=r.event_id, contact_id=contacts[r.contact], contact_external_id=r.contact,
                      name=r.name, properties=r.properties, occurred_at=r.occurred_at)
        for r in sorted(storable, key=lambda r: r.index) if r.event_id in inserted
    ]
    return result


async def _insert_events(conn: asyncpg.Connection, rows: list[EventRow], contacts: dict[str, int],
                         bulk: bool) -> set[str]:
    """Insert the rows whose event id is new; returns those ids.

    `bulk`: drop the ids already stored, then COPY the rest straight into `events` (COPY
    writes rows in bulk, several times cheaper than INSERT). If a concurrent request
    stored one of the same ids in between, the COPY fails on the unique index, and the
    caller runs the batch again without `bulk`: `INSERT ... ON CONFLICT DO NOTHING
    RETURNING`, which cannot fail that way."""
    if not bulk:
        return set(await conn.fetchval(
            f"WITH new AS ({_INSERT_EVENTS}) SELECT coalesce(array_agg(event_id), '{{}}') FROM new",
            [r.event_id for r in rows], [contacts[r.contact] for r in rows], [r.name for r in rows],
            [r.properties_json for r in rows], [r.occurred_at for r in rows]))
    stored = set(await conn.fetchval(_KNOWN_EVENT_IDS, [r.event_id for r in rows]))
    fresh = [r for r in rows if r.event_id not in stored]
    if fresh:
        await conn.copy_records_to_table("events", columns=_EVENT_COLUMNS, records=[
            (r.event_id, contacts[r.contact], r.name, r.properties_json, r.occurred_at) for r in fresh])
    return {r.event_id for r in fresh}


async def resolve_contacts(conn: asyncpg.Connection, external_ids: Iterable[str],
                           create: bool) -> tuple[dict[str, int], list[int]]:
    """Ids of the named contacts (creating the missing ones with their external id only,
    if `create`); returns ({external_id: id}, ids of the contacts created)."""
    wanted = sorted(set(external_ids))
    found = {r["external_id"]: r["id"] for r in await conn.fetch(_RESOLVE_CONTACTS, wanted)}
    created: list[int] = []
    missing = [ext for ext in wanted if ext not in found]
    if missing and create:
        for r in await conn.fetch(_CREATE_CONTACTS, missing):
            found[r["external_id"]] = r["id"]
            created.append(r["id"])
        if len(found) < len(wanted):
            # Another request created some of them after our snapshot; ON CONFLICT waited for
            # it to commit, so a fresh statement sees them now.
            late = [ext for ext in missing if ext not in found]
            found.update({r["external_id"]: r["id"] for r in await conn.fetch(_RESOLVE_CONTACTS, late)})
    return found, created


# ---------------------------------------------------------------- contact import

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


def contact_row(values: dict[str, Any], keep_types: bool) -> ContactRow:
    """A contact from one CSV record or NDJSON object; ValueError("field: reason") if bad.

    `keep_types` (NDJSON) keeps attribute values as JSON gave them, null included; CSV
    values are strings and empty cells are left out."""
    ext = values.get("external_id")
    if keep_types and isinstance(ext, int) and not isinstance(ext, bool):
        ext = str(ext)
    if ext is None or ext == "":
        raise ValueError("external_id: required")
    if not isinstance(ext, str):
        raise ValueError("external_id: must be a string")
    _check_text("external_id", ext)
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
            if key == "email" and not EMAIL_PATTERN.match(value):
                raise ValueError(f"email: not a valid email address: {value!r}")
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


async def _csv_rows(lines: AsyncIterator[tuple[int, str]], summary: ImportSummary
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
                yield number, _validated(number, dict(zip(header, fields)), False, summary)
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


async def _ndjson_rows(lines: AsyncIterator[tuple[int, str]], summary: ImportSummary
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
        yield number, _validated(number, value, True, summary)


def _validated(number: int, values: dict[str, Any], keep_types: bool, summary: ImportSummary) -> ContactRow | None:
    try:
        row = contact_row(values, keep_types)
        row.attributes_json = to_json_text(row.attributes)
    except ValueError as err:
        summary.reject(number, str(err))
        return None
    return row


_STAGING = "sojourn_contact_import"
_STAGING_COLUMNS = ("external_id", "email", "phone", "first_name", "last_name", "time_zone", "attributes")

_UPSERT_CONTACTS = f"""
INSERT INTO contacts AS c (external_id, email, phone, first_name, last_name, time_zone, attributes)
SELECT s.external_id, s.email, s.phone, s.first_name, s.last_name, s.time_zone, s.attributes::jsonb
FROM {_STAGING} AS s ORDER BY s.external_id
ON CONFLICT (external_id) DO UPDATE SET
    email = coalesce(EXCLUDED.email, c.email),
    phone = coalesce(EXCLUDED.phone, c.phone),
    first_name = coalesce(EXCLUDED.first_name, c.first_name),
    last_name = coalesce(EXCLUDED.last_name, c.last_name),
    time_zone = coalesce(EXCLUDED.time_zone, c.time_zone),
    attributes = c.attributes || EXCLUDED.attributes,
    updated_at = now()
WHERE (coalesce(EXCLUDED.email, c.email), coalesce(EXCLUDED.phone, c.phone),
       coalesce(EXCLUDED.first_name, c.first_name), coalesce(EXCLUDED.last_name, c.last_name),
       coalesce(EXCLUDED.time_zone, c.time_zone), c.attributes || EXCLUDED.attributes)
      IS DISTINCT FROM (c.email, c.phone, c.first_name, c.last_name, c.time_zone, c.attributes)
RETURNING c.id, (c.xmax = 0) AS inserted
"""


async def _load_chunk(conn: asyncpg.Connection, chunk: dict[str, ContactRow]) -> tuple[list[int], int]:
    """COPY one chunk into a staging table and merge it into contacts; returns the ids of the
    contacts inserted or changed, and how many were inserted."""
    records = [
        (row.external_id, *(row.fields.get(name) for name in CONTACT_FIELDS), row.attributes_json)
        for row in chunk.values()
    ]
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with conn.transaction():
                await conn.execute(
                    f"CREATE TEMPORARY TABLE {_STAGING} (external_id text, email text, phone text, first_name text,"
                    " last_name text, time_zone text, attributes text) ON COMMIT DROP")
                await conn.copy_records_to_table(_STAGING, records=records, columns=_STAGING_COLUMNS)
                changed = await conn.fetch(_UPSERT_CONTACTS)
            return [r["id"] for r in changed], sum(1 for r in changed if r["inserted"])
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            if attempt == _ATTEMPTS:
                raise
            log.warning("import chunk retried after a deadlock or serialization failure (attempt %d)", attempt)
    raise AssertionError("unreachable")


def _merge(chunk: dict[str, ContactRow], row: ContactRow) -> None:
    """Rows of one chunk with the same external id merge in file order (later values win)."""
    known = chunk.get(row.external_id)
    if known is None:
        chunk[row.external_id] = row
        return
    known.fields.update(row.fields)
    known.attributes.update(row.attributes)
    known.attributes_json = to_json_text(known.attributes)


ChunkCallback = Callable[[list[int]], Awaitable[None]]


async def import_contacts(engine: AsyncEngine, stream: AsyncIterable[bytes], fmt: str,
                          on_chunk: ChunkCallback | None = None,
                          chunk_rows: int = IMPORT_CHUNK_ROWS) -> ImportSummary:
    """Upsert contacts from a streamed CSV (`fmt="csv"`) or NDJSON (`"ndjson"`) body.

    `on_chunk(ids)` is awaited after each chunk commits, with the ids of the contacts it
    inserted or changed. Raises ImportFormatError if the body cannot be read at all."""
    summary = ImportSummary()
    lines = _lines(stream, summary)
    rows = _csv_rows(lines, summary) if fmt == "csv" else _ndjson_rows(lines, summary)
    chunk: dict[str, ContactRow] = {}
    async with raw_connection(engine) as conn:

        async def flush() -> None:
            ids, inserted = await _load_chunk(conn, chunk)
            summary.inserted += inserted
            summary.updated += len(ids) - inserted
            summary.unchanged += len(chunk) - len(ids)
            chunk.clear()
            if ids and on_chunk is not None:
                await on_chunk(ids)

        async for _, row in rows:
            if row is None:
                continue
            _merge(chunk, row)
            if len(chunk) >= chunk_rows:
                await flush()
        if chunk:
            await flush()
    summary.rejected.sort(key=lambda r: r["line"])
    return summary
