"""Lifetime value for every contact: each contact's purchases summarised in SQL a chunk of
contact ids at a time, BG/NBD and Gamma-Gamma fitted on the buyers (sojourn.predict.ltv), and
each contact's expected purchases and value over the horizon and probability of being active
stored with the model's version in `contact_predictions`. Running a day again changes nothing:
the same data fit the same model, stored as the day's version, and equal values are left alone."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.contracts.models import ModelRun
from sojourn.data.contact_chunks import contact_ranges
from sojourn.data.db import raw_connection
from sojourn.data.predictions import record_model, store_predictions
from sojourn.data.purchases import PurchaseSummary, purchase_summary
from sojourn.errors import Invalid
from sojourn.predict.ltv import BgNbd, FitFailed, GammaGamma, fit_bg_nbd, fit_gamma_gamma
from sojourn.services.model_steps import report_progress
from sojourn.settings import Settings

log = logging.getLogger(__name__)

MODEL = "ltv"
# The fit reads at most this many buyers (a seeded sample, so a day's fit is the same each run):
# beyond it the estimates hardly move and the likelihood's cost grows with every customer.
FIT_SAMPLE = 200_000
PREDICTIONS = ("ltv.expected_purchases", "ltv.expected_value", "ltv.p_alive",
               "rfm.frequency", "rfm.recency_days", "rfm.age_days", "rfm.monetary")


async def score_lifetime_value(engine: AsyncEngine, as_of: datetime, settings: Settings) -> ModelRun:
    """Fit lifetime value on the purchase events (`settings.purchase_event`, worth their
    `purchase_value_property`) before `as_of` and store every contact's predictions
    `ltv_horizon_days` ahead. A fit that fails is recorded (unused, with its reason) and the
    predictions already stored stay."""
    if as_of.tzinfo is None:
        raise Invalid("as_of must name its time zone")
    horizon_days, event, value_property = (settings.ltv_horizon_days, settings.purchase_event,
                                           settings.purchase_value_property)
    async with raw_connection(engine) as conn:
        chunks = []
        async for low, high in contact_ranges(engine, settings.prediction_chunk_contacts):
            chunks.append(await purchase_summary(conn, low, high, as_of, event, value_property))
            report_progress(stage="reading purchases", chunks_read=len(chunks), last_contact_id=high)
        report_progress(stage="fitting", chunks=len(chunks))
        params = {"horizon_days": horizon_days, "event": event, "value_property": value_property, "time_unit": "day"}
        try:
            # In a thread: the fit takes seconds of CPU, and the worker's event loop keeps heartbeating.
            bg_nbd, gamma_gamma, metrics = await asyncio.to_thread(_fit, chunks)
        except FitFailed as err:
            version = await record_model(conn, MODEL, as_of, params, {}, False, str(err))
            log.warning("lifetime value not fitted for %s: %s", as_of.isoformat(), err)
            return ModelRun(MODEL, None, 0, 0, str(err))
        params.update(bg_nbd=bg_nbd.as_dict(), gamma_gamma=gamma_gamma.as_dict())
        version = await record_model(conn, MODEL, as_of, params, metrics, True, None)
        changed = 0
        for done, chunk in enumerate(chunks):
            report_progress(stage="storing predictions", chunks_stored=done, chunks=len(chunks))
            async with conn.transaction():
                changed += await store_predictions(conn, MODEL, version,
                                                   _predictions(chunk, bg_nbd, gamma_gamma, horizon_days))
    contacts = sum(len(chunk.contact_ids) for chunk in chunks)
    log.info("lifetime value %d scored %d contacts (%d values changed)", version, contacts, changed)
    return ModelRun(MODEL, version, contacts, changed, metrics=metrics)


def _fit(chunks: list[PurchaseSummary]) -> tuple[BgNbd, GammaGamma, dict[str, float]]:
    bought = np.concatenate([np.asarray(c.bought, dtype=bool) for c in chunks]) if chunks else np.zeros(0, bool)
    columns = {name: np.concatenate([np.asarray(getattr(c, name), dtype=float) for c in chunks])[bought]
               if chunks else np.zeros(0) for name in ("frequency", "recency", "age", "monetary")}
    if len(columns["frequency"]) > FIT_SAMPLE:
        pick = np.sort(np.random.default_rng(0).choice(len(columns["frequency"]), FIT_SAMPLE, replace=False))
        columns = {name: values[pick] for name, values in columns.items()}
    x, t_x, T, m = columns["frequency"], columns["recency"], columns["age"], columns["monetary"]
    bg_nbd, bg_ll = fit_bg_nbd(x, t_x, T)
    gamma_gamma, gg_ll = fit_gamma_gamma(x, m)
    return bg_nbd, gamma_gamma, {"buyers": int(bought.sum()), "fitted_on": len(x), "repeat_buyers": int((x > 0).sum()),
                                 "bg_nbd_mean_log_likelihood": bg_ll, "gamma_gamma_mean_log_likelihood": gg_ll}


def _predictions(chunk: PurchaseSummary, bg_nbd: BgNbd, gamma_gamma: GammaGamma,
                 horizon_days: int) -> dict[str, tuple[list[int], list[float]]]:
    x, t_x, T, m = (np.asarray(values, dtype=float) for values in
                    (chunk.frequency, chunk.recency, chunk.age, chunk.monetary))
    purchases = bg_nbd.expected_purchases(horizon_days, x, t_x, T)
    value = purchases * gamma_gamma.expected_value(x, m)
    columns = dict(zip(PREDICTIONS, (purchases, value, bg_nbd.probability_alive(x, t_x, T), x, t_x, T, m)))
    return {name: (chunk.contact_ids, [round(float(v), 6) for v in values]) for name, values in columns.items()}
