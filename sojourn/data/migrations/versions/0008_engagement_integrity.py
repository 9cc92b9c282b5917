"""engagement events: automated clicks flagged, provider repeats stored once

Revision ID: 0008
Revises: 0007

A click a link scanner made (a HEAD request, a fetch within seconds of the send) is kept for
reporting with `automated` set; journeys, profile counts and segments ignore it.

A provider's engagement webhook repeated (retries, replays) is stored once: the same provider
event id, or without one the same message, type, time and URL. Repeats stored before this are
removed (the first of each is kept) so the unique indexes can be built.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("engagement_events",
                  sa.Column("automated", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.add_column("engagement_events", sa.Column("provider_event_id", sa.String(length=200), nullable=True))
    op.execute("""
        DELETE FROM engagement_events WHERE id IN (
            SELECT id FROM (
                SELECT id, row_number() OVER (PARTITION BY message_id, type, occurred_at, url ORDER BY id) AS nth
                FROM engagement_events WHERE source = 'webhook') repeats
            WHERE nth > 1)
    """)
    op.create_index("ux_engagement_provider_event", "engagement_events", ["message_id", "provider_event_id"],
                    unique=True, postgresql_where=sa.text("provider_event_id IS NOT NULL"))
    op.create_index("ux_engagement_webhook_repeat", "engagement_events",
                    ["message_id", "type", "occurred_at", sa.text("md5(coalesce(url, ''))")], unique=True,
                    postgresql_where=sa.text("source = 'webhook' AND provider_event_id IS NULL"))


def downgrade() -> None:
    op.drop_index("ux_engagement_webhook_repeat", table_name="engagement_events")
    op.drop_index("ux_engagement_provider_event", table_name="engagement_events")
    op.drop_column("engagement_events", "provider_event_id")
    op.drop_column("engagement_events", "automated")
