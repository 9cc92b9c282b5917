"""engagement events: a signal still owed to the run is recorded with the event

Revision ID: 0012
Revises: 0011

An open or click that a waiting run must hear of is stored with `signal_due`; the API signals
the run after answering and clears it, and retries the rows still due, so a signal that could
not be delivered at once (Temporal down, the process stopped) is delivered later, not lost.
Events stored before this were signalled inline, so none is due.
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("engagement_events",
                  sa.Column("signal_due", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_index("ix_engagement_signal_due", "engagement_events", ["received_at"],
                    postgresql_where=sa.text("signal_due"))


def downgrade() -> None:
    op.drop_index("ix_engagement_signal_due", table_name="engagement_events")
    op.drop_column("engagement_events", "signal_due")
