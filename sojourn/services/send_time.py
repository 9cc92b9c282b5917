"""Best send time for every contact who engaged: the local hours of their opens and clicks in the
last SEND_TIME_LOOKBACK_DAYS before `as_of`, read a chunk of contacts at a time
(sojourn.data.engagement_hours), shrunk toward the brand's hours (sojourn.predict.send_time).

The model is first fitted on the lookback less its last SEND_TIME_HOLDOUT_DAYS and measured on
those days: the share of their opens within an hour of each contact's predicted hour, against
the brand's single best hour for everyone. Only if it does better is it fitted again on the whole
lookback and its hours stored (`send_time.best_hour`, `send_time.confidence`); otherwise the
version is recorded unused with the reason, and the hours stored before stay. Every version
records the brand's hour (`params.brand_hour`): what a contact without a stored hour is sent at.
A day run again changes nothing."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.contracts.models import ModelRun
from sojourn.data.contact_chunks import contact_ranges
from sojourn.data.db import raw_connection
from sojourn.data.engagement_hours import EngagementHours, engagement_hours
from sojourn.data.predictions import record_model, store_predictions
from sojourn.errors import Invalid
from sojourn.predict.send_time import HOURS, best_hours, brand_distribution, evaluate
from sojourn.services.best_send_time import BEST_HOUR, MODEL
from sojourn.settings import Settings

log = logging.getLogger(__name__)

CONFIDENCE = "send_time.confidence"


class _Counts:
    """One chunk's contacts and their counts per hour, earlier and later in the window."""

    def __init__(self, rows: EngagementHours) -> None:
        self.contact_ids = sorted(set(rows.contact_ids))
        index = {contact: row for row, contact in enumerate(self.contact_ids)}
        self.earlier = np.zeros((len(self.contact_ids), HOURS))
        self.later = np.zeros((len(self.contact_ids), HOURS))
        for contact, hour, later, n in zip(rows.contact_ids, rows.hours, rows.later, rows.counts, strict=True):
            (self.later if later else self.earlier)[index[contact], hour] += n


async def score_send_time(engine: AsyncEngine, as_of: datetime, settings: Settings) -> ModelRun:
    """Fit, measure and (if better than the brand's hour) store every engaged contact's best hour."""
    if as_of.tzinfo is None:
        raise Invalid("as_of must name its time zone")
    lookback, holdout = settings.send_time_lookback_days, settings.send_time_holdout_days
    if holdout >= lookback:
        raise Invalid(f"SEND_TIME_HOLDOUT_DAYS ({holdout}) must be less than SEND_TIME_LOOKBACK_DAYS ({lookback})")
    start, split = as_of - timedelta(days=lookback), as_of - timedelta(days=holdout)
    strength = settings.send_time_prior_strength
    async with raw_connection(engine) as conn:
        chunks = [_Counts(await engagement_hours(conn, low, high, start, split, as_of, settings.brand_time_zone))
                  async for low, high in contact_ranges(engine, settings.prediction_chunk_contacts)]
        earlier = np.concatenate([c.earlier for c in chunks]) if chunks else np.zeros((0, HOURS))
        later = np.concatenate([c.later for c in chunks]) if chunks else np.zeros((0, HOURS))
        measured = evaluate(earlier, later, strength)
        brand = brand_distribution(earlier + later)
        params = {"prior_strength": strength, "lookback_days": lookback, "holdout_days": holdout,
                  "time_zone": settings.brand_time_zone, "brand_hour": int(np.argmax(brand)),
                  "brand_distribution": [round(float(p), 6) for p in brand]}
        metrics = {"hit_rate": round(measured.hit_rate, 6), "baseline_hit_rate": round(measured.baseline_hit_rate, 6),
                   "later_opens": measured.later_opens, "contacts": len(earlier),
                   "observations": int(earlier.sum() + later.sum())}
        reason = None if measured.better else _not_better(measured.later_opens, metrics)
        version = await record_model(conn, MODEL, as_of, params, metrics, reason is None, reason)
        if reason is not None:
            log.info("send time %d not used: %s", version, reason)
            return ModelRun(MODEL, None, 0, 0, reason, metrics)
        changed = 0
        for chunk in chunks:
            fitted = best_hours(chunk.earlier + chunk.later, brand, strength)
            async with conn.transaction():
                changed += await store_predictions(conn, MODEL, version, {
                    BEST_HOUR: (chunk.contact_ids, [float(h) for h in fitted.hour]),
                    CONFIDENCE: (chunk.contact_ids, [round(float(c), 6) for c in fitted.confidence])})
    log.info("send time %d scored %d contacts (%d values changed)", version, len(earlier), changed)
    return ModelRun(MODEL, version, len(earlier), changed, metrics=metrics)


def _not_better(later_opens: int, metrics: dict) -> str:
    if later_opens == 0:
        return "no opens or clicks in the evaluation window to measure the model on"
    return (f"each contact's hour ({metrics['hit_rate']:.3f} of later opens within an hour) did not beat "
            f"the brand's hour ({metrics['baseline_hit_rate']:.3f})")
