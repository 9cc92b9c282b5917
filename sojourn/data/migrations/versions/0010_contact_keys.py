"""contact keys: each contact's data key for its journeys' Temporal payloads

Revision ID: 0010
Revises: 0008

A contact's journey payloads (input, activity inputs and results, signals) are encrypted in
Temporal with the contact's own key, stored here wrapped by the master key. Erasure deletes the
key, so the histories Temporal keeps for its retention can no longer be read (crypto-shredding).
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_keys",
        sa.Column("key_id", sa.String(length=36), primary_key=True),
        sa.Column("external_id", sa.String(length=255), nullable=False, unique=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("contact_keys")
