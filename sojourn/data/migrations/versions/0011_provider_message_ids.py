"""messages found by the provider's message id, contacts by phone number

Revision ID: 0011
Revises: 0008

Providers report a message's delivery by their own id for it (Twilio's MessageSid in its
status callbacks), and a text a person sends (STOP) names them by their number: both
lookups need an index.
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_provider_message_id", "messages", ["provider_message_id"],
                    postgresql_where=sa.text("provider_message_id IS NOT NULL"))
    op.create_index("ix_contacts_phone", "contacts", ["phone"], postgresql_where=sa.text("phone IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_contacts_phone", table_name="contacts")
    op.drop_index("ix_messages_provider_message_id", table_name="messages")
