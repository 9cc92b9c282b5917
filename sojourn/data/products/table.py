"""The `products` table: one row per sku, the brand's catalogue (a deployment is one brand's, as
its contacts are: skus are unique across it; `brand` is the product's own maker or label)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index, Numeric, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from sojourn.data.models import _json, _ts

SKU_MAX = 255
NAME_MAX = 500
DESCRIPTION_MAX = 20_000
BRAND_MAX = 200
CATEGORY_LEVELS_MAX = 10
CATEGORY_LEVEL_MAX = 200
# numeric(14, 4): prices up to 9,999,999,999.9999 in any currency, exactly.
PRICE_MAX = Decimal("9999999999.9999")


class Product(SQLModel, table=True):
    __tablename__ = "products"
    __table_args__ = (Index("ix_products_category", "category", postgresql_using="gin"),
                      Index("ix_products_brand", "brand"))

    sku: str = Field(primary_key=True, max_length=SKU_MAX)
    name: str = Field(max_length=NAME_MAX)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The category path, broadest first: ["Skin care", "Face", "Serums"].
    category: list[str] = Field(default_factory=list, sa_column=Column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")))
    brand: str | None = Field(default=None, max_length=BRAND_MAX)
    price: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 4), nullable=True))
    currency: str | None = Field(default=None, max_length=3)  # ISO 4217, set whenever price is
    attributes: dict[str, Any] = _json({})
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
