"""A product as an import row or a PUT body gives it, checked field by field: ValueError
("field: reason") names what is wrong, so one row is rejected and never a whole import.

A row is the whole product: the fields it leaves out are cleared, its attributes replace the
stored ones (a catalogue feed describes each product in full)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sojourn.data.ingest.text import external_id_problem, text_problem, to_json_text
from sojourn.data.products.table import (
    BRAND_MAX,
    CATEGORY_LEVEL_MAX,
    CATEGORY_LEVELS_MAX,
    DESCRIPTION_MAX,
    NAME_MAX,
    PRICE_MAX,
)

PRODUCT_FIELDS = ("sku", "name", "description", "category", "brand", "price", "currency")
# A CSV cell (or an NDJSON string) gives the category path broadest first: "Skin care > Face".
CATEGORY_SEPARATOR = ">"
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass
class ProductRow:
    sku: str
    name: str
    description: str | None = None
    category: list[str] = field(default_factory=list)
    brand: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    attributes_json: str = "{}"

    def record(self) -> tuple[Any, ...]:
        return (self.sku, self.name, self.description, self.category, self.brand, self.price, self.currency,
                self.attributes_json)


def product_row(values: dict[str, Any], keep_types: bool, default_currency: str,
                attributes: dict[str, Any] | None = None) -> ProductRow:
    """A product from one CSV record or NDJSON object (or a PUT body, `keep_types`, whose
    `attributes` are given apart); an import's columns other than the product's fields are its
    attributes (CSV: strings, empty cells left out). A price without a currency is in
    `default_currency`."""
    sku = values.get("sku")
    if keep_types and isinstance(sku, int) and not isinstance(sku, bool):
        sku = str(sku)
    if sku is None or sku == "":
        raise ValueError("sku: required")
    if not isinstance(sku, str):
        raise ValueError("sku: must be a string")
    if problem := external_id_problem(sku):
        raise ValueError(f"sku: {problem}")
    name = _text(values, "name", NAME_MAX)
    if name is None:
        raise ValueError("name: required")
    price = _price(values.get("price"))
    currency = _text(values, "currency", 200)
    if currency is not None:
        currency = currency.upper()
        if not _CURRENCY.match(currency):
            raise ValueError(f"currency: must be an ISO 4217 code like 'USD' (got {currency[:20]!r})")
    elif price is not None:
        currency = default_currency
    if attributes is None:
        attributes = {key: value for key, value in values.items()
                      if key not in PRODUCT_FIELDS and (keep_types or value != "")}
    for key in attributes:
        if problem := text_problem(key):
            raise ValueError(f"{key[:50]}: column name {problem}")
    try:
        attributes_json = to_json_text(attributes)
    except ValueError as err:
        raise ValueError(f"attributes: {err}") from None
    return ProductRow(sku, name, _text(values, "description", DESCRIPTION_MAX), _category(values.get("category")),
                      _text(values, "brand", BRAND_MAX), price, currency, attributes, attributes_json)


def _text(values: dict[str, Any], key: str, max_length: int) -> str | None:
    value = values.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key}: must be a string")
    if len(value) > max_length:
        raise ValueError(f"{key}: at most {max_length} characters (got {len(value)})")
    if problem := text_problem(value):
        raise ValueError(f"{key}: {problem}")
    return value


def _price(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError("price: must be a number")
    try:
        price = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ValueError(f"price: not a number ({str(value)[:30]!r})") from None
    if not price.is_finite():
        raise ValueError(f"price: not a number ({str(value)[:30]!r})")
    if price < 0:
        raise ValueError(f"price: must not be negative (got {price})")
    if price > PRICE_MAX:
        raise ValueError(f"price: at most {PRICE_MAX}")
    return price


def _category(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        levels = value.split(CATEGORY_SEPARATOR)
    elif isinstance(value, list) and all(isinstance(level, str) for level in value):
        levels = value
    else:
        raise ValueError(f"category: a path like 'Skin care {CATEGORY_SEPARATOR} Face' or a list of strings")
    levels = [level.strip() for level in levels]
    if "" in levels:
        raise ValueError("category: a level of the path is empty")
    if len(levels) > CATEGORY_LEVELS_MAX:
        raise ValueError(f"category: at most {CATEGORY_LEVELS_MAX} levels")
    for level in levels:
        if len(level) > CATEGORY_LEVEL_MAX:
            raise ValueError(f"category: a level is at most {CATEGORY_LEVEL_MAX} characters")
        if problem := text_problem(level):
            raise ValueError(f"category: {problem}")
    return levels
