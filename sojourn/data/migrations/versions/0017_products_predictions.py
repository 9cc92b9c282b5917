"""products, prediction_models and contact_predictions: the catalogue and what models predict

Revision ID: 0017
Revises: 0016

`products`: one row per sku (events name products by `properties.sku`). `prediction_models`:
each fitted version of a named model with its parameters and metrics, and whether it is used
(and why not). `contact_predictions`: one value per (contact, prediction name), with the model
version that made it; every model (lifetime value now, propensity, affinity, best hour later)
writes there.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("sku", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
        sa.Column("brand", sa.String(length=200), nullable=True),
        sa.Column("price", sa.Numeric(14, 4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("attributes", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )
    op.create_index("ix_products_category", "products", ["category"], postgresql_using="gin")
    op.create_index("ix_products_brand", "products", ["brand"])
    op.create_table(
        "prediction_models",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("params", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("metrics", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", "version"),
        sa.UniqueConstraint("name", "as_of"),
    )
    op.create_table(
        "contact_predictions",
        sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "name"),
    )
    # A segment on a prediction (`ltv.expected_value >= 100`) reads this index.
    op.create_index("ix_contact_predictions_name_value", "contact_predictions", ["name", "value"])


def downgrade() -> None:
    op.drop_table("contact_predictions")
    op.drop_table("prediction_models")
    op.drop_table("products")
