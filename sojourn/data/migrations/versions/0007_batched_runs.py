"""runs delivered by a batched send

Revision ID: 0007
Revises: 0006

A journey that is a single send may go out in batches from an enrollment's pages, with no
workflow per contact; each contact's entry is still a `journey_runs` row (re-entry rules and
"what happened to whom" read them), marked with the enrollment workflow that sent it.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("journey_runs", sa.Column("batch", sa.String(length=400), nullable=True))


def downgrade() -> None:
    op.drop_column("journey_runs", "batch")
