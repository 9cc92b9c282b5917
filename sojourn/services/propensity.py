"""Purchase propensity and churn for every contact, one model each.

For a horizon H and the day T (`as_of`): features as of T-2H labelled by the H after train the
model, features as of T-H labelled by the H up to T validate it against the recency-frequency
baseline (sojourn.predict.propensity), and features as of T are scored. The features are read in
SQL a range of contacts at a time (sojourn.data.propensity_features).

- `purchase_<H>d` (H = PROPENSITY_HORIZON_DAYS): the chance that a contact buys (a
  PURCHASE_EVENT event) within H days; every contact is scored.
- `churn_<H>d` (H = CHURN_HORIZON_DAYS): among contacts who bought before, the chance that they
  do not buy again within H days; contacts who never bought have no churn score.

Each stores its score (0..1) and `<name>.decile` (1..10, 10 the most likely) in
`contact_predictions`. A version whose AUC does not beat the baseline's is recorded unused with
the reason and the scores already stored stay. Running a day again changes nothing."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.contracts.models import ModelRun
from sojourn.data.contact_chunks import contact_ranges
from sojourn.data.db import raw_connection
from sojourn.data.predictions import record_model, store_predictions
from sojourn.data.propensity_features import FEATURES, Features, product_rates, propensity_features
from sojourn.errors import Invalid
from sojourn.predict import propensity
from sojourn.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Target:
    name: str
    horizon_days: int
    churn: bool  # positives are the prior buyers who do not buy again


async def score_propensity(engine: AsyncEngine, as_of: datetime, settings: Settings) -> ModelRun:
    """Fit, validate and score `purchase_<PROPENSITY_HORIZON_DAYS>d`."""
    days = settings.propensity_horizon_days
    return await _score(engine, as_of, settings, _Target(f"purchase_{days}d", days, churn=False))


async def score_churn(engine: AsyncEngine, as_of: datetime, settings: Settings) -> ModelRun:
    """Fit, validate and score `churn_<CHURN_HORIZON_DAYS>d` for contacts who bought before."""
    days = settings.churn_horizon_days
    return await _score(engine, as_of, settings, _Target(f"churn_{days}d", days, churn=True))


async def _score(engine: AsyncEngine, as_of: datetime, settings: Settings, target: _Target) -> ModelRun:
    if as_of.tzinfo is None:
        raise Invalid("as_of must name its time zone")
    horizon = timedelta(days=target.horizon_days)
    cut_offs = (as_of - 2 * horizon, as_of - horizon, as_of)
    windows: list[list[Features]] = [[], [], []]
    async with raw_connection(engine) as conn:
        rates = [await product_rates(conn, cut_off, target.horizon_days, settings.purchase_event)
                 for cut_off in cut_offs]
        async for low, high in contact_ranges(engine, settings.prediction_chunk_contacts):
            for parts, cut_off, rates_then in zip(windows, cut_offs, rates):
                parts.append(await propensity_features(conn, low, high, cut_off, target.horizon_days,
                                                       settings.purchase_event, settings.purchase_value_property,
                                                       rates_then))
        train, validation, now = (Features.concatenate(parts) for parts in windows)
        # The mathematics in threads: the worker's event loop keeps heartbeating and running journeys.
        fitted = await asyncio.to_thread(propensity.fit, _window(train, target), _window(validation, target),
                                         FEATURES.index("recency_days"), FEATURES.index("frequency"))
        params = {"horizon_days": target.horizon_days, "event": settings.purchase_event,
                  "value_property": settings.purchase_value_property, "features": list(FEATURES),
                  "train_cut_off": cut_offs[0].isoformat(), "validation_cut_off": cut_offs[1].isoformat(),
                  "train_sample": propensity.TRAIN_SAMPLE, "seed": propensity.SEED,
                  "learning_rate": propensity.LEARNING_RATE, "max_trees": propensity.MAX_TREES,
                  "baseline": "logistic regression on recency and log frequency"}
        version = await record_model(conn, target.name, as_of, params, fitted.metrics, fitted.used, fitted.reason)
        if not fitted.used:
            log.warning("%s version %d not used for %s: %s", target.name, version, as_of.isoformat(), fitted.reason)
            return ModelRun(target.name, None, 0, 0, fitted.reason, fitted.metrics)
        scored = _at_risk(now, target)
        contact_ids, scores = now.contact_ids[scored], await asyncio.to_thread(fitted.scores, now.values[scored])
        scores = np.round(scores, 6)
        deciles = propensity.deciles(scores)
        changed = 0
        for start in range(0, len(contact_ids), settings.prediction_chunk_contacts):
            part = slice(start, start + settings.prediction_chunk_contacts)
            ids = contact_ids[part].tolist()
            async with conn.transaction():
                changed += await store_predictions(conn, target.name, version, {
                    target.name: (ids, scores[part].tolist()),
                    f"{target.name}.decile": (ids, deciles[part].astype(float).tolist())})
    log.info("%s version %d scored %d contacts (%d values changed)", target.name, version, len(contact_ids), changed)
    return ModelRun(target.name, version, len(contact_ids), changed, metrics=fitted.metrics)


def _at_risk(features: Features, target: _Target) -> np.ndarray:
    """Who the target is about: every contact, or for churn those who bought before."""
    return features.column("frequency") > 0 if target.churn else np.ones(len(features.contact_ids), dtype=bool)


def _window(features: Features, target: _Target) -> propensity.Window:
    """The contacts that existed at the cut-off (and, for churn, had bought), labelled."""
    keep = features.existed & _at_risk(features, target)
    labels = ~features.label[keep] if target.churn else features.label[keep]
    return propensity.Window(features.values[keep], labels)
