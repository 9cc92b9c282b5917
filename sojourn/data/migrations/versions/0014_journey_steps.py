"""journey_steps and conversions: each node a run entered, and each run's goal, for funnels

Revision ID: 0014
Revises: 0013

One row per (run, step): the node, when the run entered and left it and by which way out. A
covering index on (journey, when the run entered the journey) lets a funnel count one journey's
steps per node from the index alone; one on journey_runs does the same for a funnel's runs.
Conversions: a run's first goal event within the goal's window, its revenue and the message it
is attributed to, recorded as events are ingested. Runs recorded before this have no steps.
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_steps",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("node_type", sa.String(length=16), nullable=False),
        sa.Column("run_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "seq"),
    )
    op.create_index("ix_journey_steps_funnel", "journey_steps", ["journey_id", "run_started_at"],
                    postgresql_include=["version", "node_id", "outcome", "reason", "left_at"])
    op.create_index("ix_journey_steps_contact", "journey_steps", ["contact_id"])
    op.create_index("ix_journey_runs_funnel", "journey_runs", ["journey_id", "enrolled_at"],
                    postgresql_include=["version", "status", "exit_reason", "converted_at"])


    op.create_table(
        "conversions",
        sa.Column("run_id", sa.String(length=64), primary_key=True),
        sa.Column("journey_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("run_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Numeric(18, 4), nullable=True),
        sa.Column("message_id", sa.Uuid(), sa.ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
        sa.Column("node_id", sa.String(length=64), nullable=True),
    )
    op.create_index("ix_conversions_funnel", "conversions", ["journey_id", "run_started_at"],
                    postgresql_include=["version", "node_id", "value"])
    op.create_index("ix_conversions_contact", "conversions", ["contact_id"])


def downgrade() -> None:
    op.drop_table("conversions")
    op.drop_index("ix_journey_runs_funnel", table_name="journey_runs")
    op.drop_table("journey_steps")
