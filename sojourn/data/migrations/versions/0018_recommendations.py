"""contact_recommendations and popular_products: the products to show each contact

Revision ID: 0018
Revises: 0017

`contact_recommendations`: each contact's top products, by rank, with the score and the model
version that chose them (replaced a range of contacts at a time by the nightly run).
`popular_products`: the most bought products, by rank, shown to a contact who has no
recommendations yet (one created since the last run).
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_recommendations",
        sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "rank"),
    )
    op.create_table(
        "popular_products",
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("rank"),
    )


def downgrade() -> None:
    op.drop_table("popular_products")
    op.drop_table("contact_recommendations")
