"""experiment_assignments and experiment_winners: the arm each contact takes at a journey's split node

Revision ID: 0015
Revises: 0014

One row per (journey, split node, contact), written the first time the contact reaches the
split and read back on every later visit, version or re-entry; experiment results count arms
from it. A split with a `winner` rule records the arm it chose, once, in experiment_winners.
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiment_assignments",
        sa.Column("journey_id", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("arm", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("journey_id", "node_id", "contact_id"),
    )
    op.create_index("ix_experiment_assignments_contact", "experiment_assignments", ["contact_id"])
    op.create_table(
        "experiment_winners",
        sa.Column("journey_id", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("arm", sa.String(length=32), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("journey_id", "node_id"),
    )


def downgrade() -> None:
    op.drop_table("experiment_winners")
    op.drop_table("experiment_assignments")
