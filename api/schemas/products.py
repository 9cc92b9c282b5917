"""Products: the catalogue's bodies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.common import StrictIn


class ProductIn(StrictIn):
    """The whole product: a field left out is cleared, `attributes` replace the stored ones."""

    name: str = Field(description="Required; at most 500 characters, any language.")
    description: str | None = Field(None, description="At most 20,000 characters.")
    category: list[str] | str | None = Field(None, description=(
        "The category path, broadest first: a list (`[\"Skin care\", \"Face\"]`) or text (`Skin care > Face`)."))
    brand: str | None = Field(None, description="The product's own brand or label.")
    price: Decimal | str | None = Field(None, description="Not negative; a number or its text (`\"12.50\"`).")
    currency: str | None = Field(None, description="ISO 4217; a price without one is in USAGE_CURRENCY.")
    attributes: dict[str, Any] = Field(default_factory=dict)


class ProductOut(BaseModel):
    sku: str
    name: str
    description: str | None
    category: list[str]
    brand: str | None
    price: Decimal | None
    currency: str | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
