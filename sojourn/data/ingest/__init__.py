"""Getting first-party data in fast, never lost and never doubled: event batches
(`events`) and bulk contact imports (`contact_rows` reads the body, `contact_import` loads
it), with the checks both apply to text and JSON before Postgres sees it (`text`).

Both paths work set-based on the raw asyncpg connection of the pool
(`sojourn.data.db.raw_connection`):

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

# A deadlock or serialization failure is retried (the whole batch or chunk, one transaction).
ATTEMPTS = 3
