"""Recommendations for every contact: product events read a range of contacts at a time, item
co-occurrence fitted and checked on a later window (sojourn.predict.recommend), and each
contact's top products stored with the model's version.

The rule: fit on the events before as_of minus RECOMMENDATION_EVALUATION_DAYS, recommend five
products to each contact who bought something new in that window, and keep co-occurrence only
if its precision@5 is above popularity's (strictly: a tie keeps the simpler model). Otherwise the
version is recorded unused with its reason and every contact gets the popular products they have
not bought. Contacts without product events get no rows: a template shows them the popular
products (`popular_products`). A day scored again changes nothing."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.contracts.models import ModelRun
from sojourn.data.contact_chunks import contact_ranges
from sojourn.data.db import raw_connection
from sojourn.data.predictions import record_model
from sojourn.data.product_events import ProductEvents, product_events
from sojourn.data.recommendations import replace_popular, replace_recommendations
from sojourn.errors import Invalid
from sojourn.predict import recommend
from sojourn.settings import Settings

log = logging.getLogger(__name__)

MODEL = "recommendations"
EVALUATED_AT = 5


async def score_recommendations(engine: AsyncEngine, as_of: datetime, settings: Settings) -> ModelRun:
    """Fit, evaluate and store every contact's recommendations from the product events before `as_of`."""
    if as_of.tzinfo is None:
        raise Invalid("as_of must name its time zone")
    window = timedelta(days=settings.recommendation_evaluation_days)
    history = timedelta(days=settings.recommendation_history_days)
    async with raw_connection(engine) as conn:
        ranges = [bounds async for bounds in contact_ranges(engine, settings.prediction_chunk_contacts)]
        chunks = [await product_events(conn, low, high, as_of - window - history, as_of, settings.purchase_event)
                  for low, high in ranges]
        contact_ids, skus, everything = _interactions(chunks)
        now = as_of.timestamp()
        # The mathematics in threads: the worker's event loop keeps heartbeating and running journeys.
        metrics = await asyncio.to_thread(recommend.evaluate, everything, now - window.total_seconds(),
                                          settings.recommendation_half_life_days, EVALUATED_AT)
        data = everything.between(now - history.total_seconds(), now)
        model = await asyncio.to_thread(recommend.fit, data)
        reason = _why_not(metrics)
        params = {"method": "popularity" if reason else "cooccurrence", "per_contact": settings.recommendations_per_contact,
                  "history_days": settings.recommendation_history_days,
                  "evaluation_days": settings.recommendation_evaluation_days,
                  "half_life_days": settings.recommendation_half_life_days, "purchase_event": settings.purchase_event,
                  "view_weight": recommend.VIEW_WEIGHT, "neighbours": recommend.NEIGHBOURS,
                  "kind_weights": recommend.KIND_WEIGHTS.tolist(), "normalisation": "cosine"}
        if not model.popularity.any():
            reason = "no purchases of catalogue products before as_of"
            await record_model(conn, MODEL, as_of, params, metrics, False, reason)
            log.warning("recommendations not fitted for %s: %s", as_of.isoformat(), reason)
            return ModelRun(MODEL, None, 0, 0, reason, metrics)
        if reason:
            model = model.popularity_only()
        version = await record_model(conn, MODEL, as_of, params, metrics, reason is None, reason)
        per_contact = settings.recommendations_per_contact
        popular = model.popular(per_contact)
        async with conn.transaction():
            changed = await replace_popular(conn, version, [skus[p] for p in popular],
                                            [float(model.popularity[p]) for p in popular])
        seen = await asyncio.to_thread(recommend.histories, data, now, settings.recommendation_half_life_days)
        scored = 0
        for low, high in ranges:
            rows = np.flatnonzero((contact_ids >= low) & (contact_ids < high))
            picks, scores = await asyncio.to_thread(recommend.recommend, model, seen, rows, per_contact)
            kept = picks >= 0
            row_of, rank_of = np.nonzero(kept)
            scored += int(kept.any(axis=1).sum())
            async with conn.transaction():
                changed += await replace_recommendations(
                    conn, low, high, version, contact_ids[rows[row_of]].tolist(), (rank_of + 1).tolist(),
                    [skus[p] for p in picks[kept]], [round(float(s), 6) for s in scores[kept]])
    log.info("recommendations %d (%s) for %d contacts (%d rows changed)", version, params["method"], scored, changed)
    return ModelRun(MODEL, version, scored, changed, reason, metrics)


def _why_not(metrics: dict) -> str | None:
    """Why co-occurrence is not used this time, or None when it beat popularity on the later window."""
    if not metrics.get("evaluated_contacts"):
        return "no new purchases in the evaluation window to measure against: popularity only"
    ours, theirs = (metrics[f"{name}_precision_at_{EVALUATED_AT}"] for name in ("cooccurrence", "popularity"))
    if ours <= theirs:
        return f"co-occurrence precision@{EVALUATED_AT} {ours:.4f} did not beat popularity's {theirs:.4f}: popularity only"
    return None


def _interactions(chunks: list[ProductEvents]) -> tuple[np.ndarray, list[str], recommend.Interactions]:
    """Contact ids by row (ascending, so each range's rows are together), skus by column, and the events."""
    ids = np.concatenate([c.contact_ids for c in chunks]) if chunks else np.zeros(0, np.int64)
    contact_ids, rows = np.unique(ids, return_inverse=True)
    # Columns in sku order, so that products equally popular rank by sku, the same every run.
    columns = {sku: column for column, sku in enumerate(sorted({sku for c in chunks for sku in c.skus}))}
    products = np.array([columns[sku] for c in chunks for sku in c.skus], dtype=np.int64)
    kinds = np.concatenate([c.kinds for c in chunks]) if chunks else np.zeros(0, np.int64)
    times = np.concatenate([c.times for c in chunks]) if chunks else np.zeros(0)
    return contact_ids, list(columns), recommend.Interactions(rows.astype(np.int64), products, kinds, times,
                                                              len(contact_ids), len(columns))
