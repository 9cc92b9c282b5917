"""What a message's templates read about a contact besides its own row: its predictions (name ->
value), its tags (tag -> weight) and its recommended products joined to the catalogue (the
popular products when it has none), in the order they are shown. The columns are correlated
subqueries on a contact id, so the send path reads them in the same statement as the contact
(`contact_extras_columns`), and preview, test sends and simulation read them for one contact
(`contact_extras`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, bindparam, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from sojourn.data.models import ContactTag
from sojourn.data.predictions import ContactPrediction
from sojourn.data.products.table import Product
from sojourn.data.recommendations import ContactRecommendation, PopularProduct

_predictions = ContactPrediction.__table__
_tags = ContactTag.__table__
_chosen = ContactRecommendation.__table__
_popular = PopularProduct.__table__
_products = Product.__table__


@dataclass
class ContactExtras:
    predictions: dict[str, float] = field(default_factory=dict)
    tags: dict[str, float] = field(default_factory=dict)
    recommendations: list[dict[str, Any]] = field(default_factory=list)


def _product(rank_table) -> ColumnElement:
    """A product as a template shows it: url and image come from its attributes when it has them."""
    attributes = _products.c.attributes
    return func.jsonb_agg(aggregate_order_by(func.jsonb_strip_nulls(func.jsonb_build_object(
        "sku", _products.c.sku, "name", _products.c.name, "price", _products.c.price,
        "currency", _products.c.currency, "brand", _products.c.brand, "category", _products.c.category,
        "url", attributes["url"], "image", func.coalesce(attributes["image"], attributes["image_url"]),
        "score", rank_table.c.score)), rank_table.c.rank))


def contact_extras_columns(contact_id: ColumnElement) -> list[ColumnElement]:
    """The labelled columns `extras_predictions`, `extras_tags`, `extras_recommendations` of the contact `contact_id`."""
    chosen = (select(_product(_chosen)).select_from(_chosen.join(_products, _products.c.sku == _chosen.c.sku))
              .where(_chosen.c.contact_id == contact_id).scalar_subquery())
    popular = select(_product(_popular)).select_from(
        _popular.join(_products, _products.c.sku == _popular.c.sku)).scalar_subquery()
    return [
        select(func.jsonb_object_agg(_predictions.c.name, _predictions.c.value))
        .where(_predictions.c.contact_id == contact_id).scalar_subquery().label("extras_predictions"),
        select(func.jsonb_object_agg(_tags.c.tag, _tags.c.weight))
        .where(_tags.c.contact_id == contact_id).scalar_subquery().label("extras_tags"),
        func.coalesce(chosen, popular).label("extras_recommendations"),
    ]


def extras_of(row: Any) -> ContactExtras:
    """The extras of a row read with `contact_extras_columns`."""
    return ContactExtras(row["extras_predictions"] or {}, row["extras_tags"] or {}, row["extras_recommendations"] or [])


_ONE = select(*contact_extras_columns(bindparam("contact_id", type_=BigInteger)))


async def contact_extras(conn: AsyncConnection | AsyncSession, contact_id: int | None) -> ContactExtras:
    """One contact's extras; a contact not stored (a test send's profile) has the popular products only."""
    return extras_of((await conn.execute(_ONE, {"contact_id": contact_id})).mappings().one())
