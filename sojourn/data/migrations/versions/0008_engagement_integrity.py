"""engagement events: automated clicks flagged

Revision ID: 0008
Revises: 0007

A click a link scanner made (a HEAD request, a fetch within seconds of the send) is kept for
reporting with `automated` set; journeys, profile counts and segments ignore it.
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


def downgrade() -> None:
    op.drop_column("engagement_events", "automated")
