"""the key of the last journey change to a tag

Revision ID: 0005
Revises: 0004

A `tag` node's change is written by a local activity that may be retried after it committed;
the change's key (run and node visit) makes the retry a no-op, so an increment counts once.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contact_tags", sa.Column("change_key", sa.String(length=500), nullable=True))


def downgrade() -> None:
    op.drop_column("contact_tags", "change_key")
