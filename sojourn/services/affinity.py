"""Affinity tags for every contact: topics learned from the catalogue's text, each product's
features (category levels, brand, chosen attributes, topics), then each range of contacts' interest
in products read set-based (sojourn.data.product_events), spread over the features and weighed
0..1 per kind (sojourn.predict.affinity), and written (sojourn.data.affinity_tags). The model's
version records the topics and the weights used. Running a day again changes nothing: the same
catalogue gives the same topics, the same events the same weights, and equal tags are left."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.contracts.models import ModelRun
from sojourn.data.affinity_tags import held, write_range
from sojourn.data.contact_chunks import contact_ranges
from sojourn.data.db import raw_connection
from sojourn.data.predictions import record_model
from sojourn.data.product_events import CART_EVENT, VIEW_EVENT, product_interest
from sojourn.data.products.text import tokens
from sojourn.errors import Invalid
from sojourn.predict.affinity import FeatureMatrix, Topic, feature_matrix, fit_topics, product_features, weigh
from sojourn.settings import Settings

log = logging.getLogger(__name__)

MODEL = "affinity"
_CATALOGUE = "SELECT sku, name, description, category, brand, attributes FROM products ORDER BY sku"


def event_weights(settings: Settings) -> dict[str, float]:
    """What each product event counts: AFFINITY_EVENT_WEIGHTS, else view < add to cart < purchase."""
    if settings.affinity_event_weights is not None:
        return dict(settings.affinity_event_weights)
    return {VIEW_EVENT: 1.0, CART_EVENT: 3.0, settings.purchase_event: 10.0}


async def score_affinity(engine: AsyncEngine, as_of: datetime, settings: Settings) -> ModelRun:
    """Tag every contact with affinity weights from product events before `as_of`. Without a
    catalogue nothing can be learned: the version is recorded unused and the tags stay."""
    if as_of.tzinfo is None:
        raise Invalid("as_of must name its time zone")
    weights = event_weights(settings)
    half_life = settings.affinity_half_life_days
    params: dict[str, Any] = {"event_weights": weights, "half_life_days": half_life,
                              "attributes": settings.affinity_attributes, "min_weight": settings.affinity_min_weight}
    async with raw_connection(engine) as conn:
        products = await conn.fetch(_CATALOGUE)
        if not products:
            reason = "no products in the catalogue"
            await record_model(conn, MODEL, as_of, {**params, "topics": []}, {}, False, reason)
            log.warning("affinity not scored for %s: %s", as_of.isoformat(), reason)
            return ModelRun(MODEL, None, 0, 0, reason)
        # The mathematics in threads: the worker's event loop keeps heartbeating and running journeys.
        topics, features = await asyncio.to_thread(_features, products, settings)
        numbers = {p["sku"]: i for i, p in enumerate(products)}
        written = removed = 0
        async for low, high in contact_ranges(engine, settings.prediction_chunk_contacts):
            interest = await product_interest(conn, low, high, as_of, weights, half_life)
            known = [i for i, sku in enumerate(interest.skus) if sku in numbers]
            kept = await asyncio.to_thread(weigh, [interest.contact_ids[i] for i in known],
                                           [numbers[interest.skus[i]] for i in known],
                                           [interest.interest[i] for i in known], features.shares, features.kinds,
                                           settings.affinity_min_weight)
            earned = zip(kept.contacts.tolist(), [features.tags[f] for f in kept.features.tolist()],
                         kept.weights.tolist())
            async with conn.transaction():
                counts = await write_range(conn, low, high, earned)
            written, removed = written + counts[0], removed + counts[1]
        tagged, tags = await held(conn)
        contacts = await conn.fetchval("SELECT count(*) FROM contacts")
        metrics = {"topics": len(topics), "products": len(products), "contacts_tagged": tagged, "tags": tags}
        params["topics"] = [{"name": t.name, "terms": t.terms} for t in topics]
        version = await record_model(conn, MODEL, as_of, params, metrics, True, None)
    log.info("affinity %d tagged %d of %d contacts (%d tags written, %d removed)", version, tagged, contacts,
             written, removed)
    return ModelRun(MODEL, version, contacts, written + removed, metrics=metrics)


def _features(products: list, settings: Settings) -> tuple[list[Topic], FeatureMatrix]:
    topics = fit_topics([" ".join(filter(None, (p["name"], p["description"]))) for p in products], tokens,
                        settings.affinity_topics)
    return topics.topics, feature_matrix([
        product_features(p["category"], p["brand"], p["attributes"] or {}, settings.affinity_attributes, shares,
                         topics.topics) for p, shares in zip(products, topics.shares)])
