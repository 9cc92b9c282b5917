"""send windows and frequency caps

Revision ID: 0004
Revises: 0003

messages gain what caps and deferrals need: whether a message is transactional (caps count
marketing only), its journey's priority, until when a deferred message waits, and `due_at`,
the run's time of the send, which rolling cap windows count by.
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("transactional", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("messages", sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
    op.add_column("messages", sa.Column("deferred_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("messages", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_messages_contact_due", "messages", ["contact_id", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_contact_due", "messages")
    for column in ("due_at", "deferred_until", "priority", "transactional"):
        op.drop_column("messages", column)
