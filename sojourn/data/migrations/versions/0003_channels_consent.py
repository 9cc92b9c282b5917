"""channels, consent and suppression

Revision ID: 0003
Revises: 0002

- contacts gain the addresses of the new channels (FCM registration token, LINE user id)
  and a global suppression (hard bounce, spam complaint).
- contact_consents: one row per contact and channel that has a known consent state.
- channel_rates: the next free send slot of each rate-limited channel, shared by workers.
- messages: any channel now (recipient and Message-ID are email's), the provider's id,
  and the statuses `sending` (handed to a provider, answer pending), `unconfirmed` and
  `skipped`.
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("push_token", sa.String(length=4096), nullable=True))
    op.add_column("contacts", sa.Column("line_user_id", sa.String(length=64), nullable=True))
    op.add_column("contacts", sa.Column("suppressed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("contacts", sa.Column("suppression_reason", sa.String(length=200), nullable=True))
    op.create_unique_constraint("contacts_line_user_id_key", "contacts", ["line_user_id"])
    op.create_table(
        "contact_consents",
        sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "channel"),
    )
    op.create_table(
        "channel_rates",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("next_slot", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )
    op.alter_column("messages", "recipient", existing_type=sa.String(length=320), nullable=True)
    op.alter_column("messages", "message_id_header", existing_type=sa.String(length=400), nullable=True)
    op.add_column("messages", sa.Column("provider_message_id", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "provider_message_id")
    op.alter_column("messages", "message_id_header", existing_type=sa.String(length=400), nullable=False)
    op.alter_column("messages", "recipient", existing_type=sa.String(length=320), nullable=False)
    op.drop_table("channel_rates")
    op.drop_table("contact_consents")
    op.drop_constraint("contacts_line_user_id_key", "contacts")
    for column in ("suppression_reason", "suppressed_at", "line_user_id", "push_token"):
        op.drop_column("contacts", column)
