"""indexes for segment queries

Revision ID: 0002
Revises: 0001

Chosen for `sojourn.data.segments`, measured on the embedded Postgres 16 (2 cores) with
1,000,000 contacts and 10,000,000 events (docs/benchmarks.md, "Segment count"):

- events (name, occurred_at) INCLUDE (contact_id) replaces (name, occurred_at). An event
  condition reads the rows of one event name inside its window; with contact_id in the
  index that read is an index-only scan, no visit to the 1.3 GB heap, unless the filter
  also has property conditions. Measured: "at most 3 product views in 30 days" 0.60 s ->
  0.22 s, "purchased twice in 30 days OR lives in X" 0.33 s -> 0.15 s, "never purchased"
  0.55 s -> 0.28 s. Same write cost as the index it replaces (one btree, 8 bytes wider).
  Per-contact probes (a match check, NOT EXISTS under OR) keep using
  ix_events_contact_name_time (contact_id, name, occurred_at) from 0001.
  Not added: (name, contact_id, occurred_at). It only helps all-time counts (purchased >= 5
  times: 0.55 s -> 0.35 s), makes windowed counts scan every row of the name, and would be
  a fifth index on the table that ingestion writes most.
- contacts GIN (attributes jsonb_path_ops): the compiler writes equality, `in` and
  "array contains" on attributes as `attributes @> '{"key": value}'`, which this one index
  answers for every key, so a selective attribute condition does not scan all contacts.
  jsonb_path_ops because only `@>` is needed (smaller, faster than jsonb_ops); built over
  1,000,000 contacts in 0.5 s, 6 MB.
- messages (journey_id, node_id, contact_id): "received / opened / clicked a message of
  journey J [node N]" as a semi-join reads only that journey's messages instead of all of
  them; engagement_events (message_id, type) from 0001 covers the opened / clicked step.

Indexes are built CONCURRENTLY (outside the migration's transaction) so that upgrading a
live database does not block ingestion while they build.
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_events_name_time_contact "
                   "ON events (name, occurred_at) INCLUDE (contact_id)")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_events_name_time")
        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_contacts_attributes "
                   "ON contacts USING gin (attributes jsonb_path_ops)")
        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_messages_journey_node_contact "
                   "ON messages (journey_id, node_id, contact_id)")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_messages_journey_node_contact")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_contacts_attributes")
        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_events_name_time ON events (name, occurred_at)")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_events_name_time_contact")
