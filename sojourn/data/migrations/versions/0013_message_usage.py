"""messages: billable units and cost recorded at send time, and a test flag

Revision ID: 0013
Revises: 0012

Each message records the units it is billed as (an SMS's segments, 1 elsewhere) and what they
cost at the prices in force when it went, so a later price or text change leaves what was spent
as it was. Test sends are marked and never counted. An index on when a message went (else was
recorded) serves usage over a time range. Messages recorded before this have no units.
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("units", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("cost", sa.Numeric(18, 8), nullable=True))
    op.add_column("messages", sa.Column("test", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_index("ix_messages_billed_at", "messages", [sa.text("coalesce(sent_at, created_at)")])


def downgrade() -> None:
    op.drop_index("ix_messages_billed_at", table_name="messages")
    op.drop_column("messages", "test")
    op.drop_column("messages", "cost")
    op.drop_column("messages", "units")
