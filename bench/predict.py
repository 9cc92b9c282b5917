"""The nightly models on a synthetic shop: how long the whole nightly run takes, how long scoring
every contact takes, and how the models do against their baselines.

The shop is generated here with planted patterns, seeded (the same shop every run), and loaded
with COPY: 100,000 contacts, 2,000 products (Chinese and English names and descriptions, in
categories and brands), 2,000,000 events over a year (`viewed_product`, `added_to_cart`,
`purchase` with `properties.sku` and `amount`) and email engagement:

- a buying rhythm: 15% of the contacts buy every ~14, 21 or 35 days, a third of them stopped
  some months ago (purchase propensity and churn are learnable; the rest buy now and then);
- co-purchase pairs: 300 product pairs whose second (a refill, a complement) is bought one to
  eight weeks after the first, most of the time (recommendations are learnable beyond
  popularity: the first is in the history when the second is bought in a later window);
- intent: every purchase follows two views of its product in the two weeks before it (recent
  views say who buys next, which recency and frequency alone cannot: the propensity model has
  something to learn beyond its baseline);
- open hours: half the contacts got three emails; each opens at their own hour (send time is
  learnable); views favour each contact's own category (affinity is learnable).

The nightly run is the real one: `ModelsWorkflow` for the last day of the data, on a worker in
this process, every step in `sojourn.services.model_steps.STEPS`. Steps not there yet are
reported as null. Figures:

- `nightly_s`: from starting the run to its result; `steps`: each step's seconds and ModelRun;
  baseline `direct_s`: the same steps called one after another without Temporal (for the day
  before, so they fit and write as much);
- `scoring_s`: predicting and storing every contact's values with a fitted model, without its
  fit: lifetime value's, as the next night scores them (read each chunk's purchase summary a day
  later, predict with the day's model, store): every contact is a day older, so its age and its
  predictions change; `scoring_written` is how many of the 700,000 values were written (all: the
  stored ones are another model version), on the table vacuumed as a day's pause leaves it;
- `auc`, `baseline_auc`: from the `propensity` step's metrics (`model.auc` and `baseline.auc`: its
  later validation window, and the recency-frequency baseline on it); `precision_at_5`,
  `popularity_precision_at_5`: from the `recommendations` step's metrics
  (`cooccurrence_precision_at_5`, `popularity_precision_at_5`); null until those steps exist;
- `cdnow`: BG/NBD's four estimates on the CDNOW sample (tests/data/cdnow/), to set beside the
  published r = 0.243, alpha = 4.414, a = 0.793, b = 2.426.

    .venv/bin/python bench/predict.py [--small] [--contacts 100000] [--events 2000000] [--products 2000]

Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import numpy as np
from ingest import asyncpg_dsn

from sojourn.contracts.models import ModelsProgress
from sojourn.data.contact_chunks import contact_ranges
from sojourn.data.predictions import store_predictions
from sojourn.data.purchases import purchase_summary
from sojourn.data.tag_rules import end_of_day
from sojourn.predict.ltv import BgNbd, GammaGamma, fit_bg_nbd
from sojourn.services import lifetime_value, model_steps, nightly_models
from worker.main import journey_worker

from common import bench_stack, machine, print_result, setup_logging

log = logging.getLogger("bench")

DAY = date(2026, 11, 29)  # the last day of the data: the nightly run is for it
YEAR_S = 365 * 86_400
KNOWN_STEPS = ("affinity", "propensity", "churn", "ltv", "recommendations", "send_time")
CDNOW = (Path(__file__).resolve().parent.parent / "tests" / "data" / "cdnow"
         / "cdnow_customers_summary_with_transactions.csv")
CATEGORIES = {"护肤 Skin care": ["洁面 Cleansers", "精华 Serums", "面霜 Creams", "面膜 Masks"],
              "彩妆 Make-up": ["口红 Lipstick", "粉底 Foundation", "眼影 Eyeshadow"],
              "个护 Personal care": ["洗发水 Shampoo", "沐浴露 Body wash", "牙膏 Toothpaste"],
              "食品 Grocery": ["茶 Tea", "咖啡 Coffee", "零食 Snacks"]}
WORDS = [("控油", "oil-control"), ("保湿", "moisturising"), ("美白", "brightening"), ("抗老", "anti-ageing"),
         ("温和", "gentle"), ("清爽", "fresh"), ("滋润", "nourishing"), ("有机", "organic")]


def make_shop(contacts: int, events: int, products: int, seed: int = 7) -> dict:
    """Every row of the shop, in memory (numpy where it counts), with its planted patterns."""
    rng = np.random.default_rng(seed)
    leaves = [(top, sub) for top, subs in CATEGORIES.items() for sub in subs]
    product_leaf = rng.integers(len(leaves), size=products)
    popularity = 1 / (np.arange(products) + 10.0)
    popularity /= popularity.sum()
    price = np.round(rng.gamma(3.0, 12.0, size=products) + 5, 2)
    catalogue = []
    for j in range(products):
        top, sub = leaves[product_leaf[j]]
        zh, en = WORDS[j % len(WORDS)]
        brand = f"Brand {j % 50:02d}"
        name = f"{zh}{sub.split()[0]} {j}" if j % 2 else f"{en.title()} {sub.split(' ', 1)[1]} {j}"
        catalogue.append((f"sku-{j:05d}", name,
                          f"{zh}{sub.split()[0]}，适合日常使用。A {en} {sub.split(' ', 1)[1].lower()} for every day.",
                          [top, sub], brand, float(price[j])))
    pairs = rng.choice(products // 3, size=(300, 2), replace=False) if products >= 900 else \
        rng.choice(products, size=(min(300, products // 2), 2), replace=False)
    pair_of = {int(a): int(b) for a, b in pairs}
    heads = np.array(sorted(pair_of))

    # Purchases: (contact, seconds into the year, product); a cart a few minutes before each.
    rows_c, rows_t, rows_p = [], [], []
    kind = rng.random(contacts)
    for c in np.flatnonzero(kind < 0.15):  # the rhythm buyers
        period = rng.choice([14, 21, 35]) * 86_400
        stop = YEAR_S if rng.random() < 0.67 else YEAR_S - rng.uniform(90, 200) * 86_400
        t = rng.uniform(0, period)
        while t < stop:
            rows_c.append(c), rows_t.append(t), rows_p.append(rng.choice(products, p=popularity))
            t += period + rng.normal(0, 2 * 86_400)
    for c in np.flatnonzero((kind >= 0.15) & (kind < 0.5)):  # now and then
        for _ in range(rng.poisson(1.5)):
            rows_c.append(c), rows_t.append(rng.uniform(0, YEAR_S)), rows_p.append(rng.choice(products, p=popularity))
    c, t, p = np.array(rows_c), np.array(rows_t), np.array(rows_p)
    # Some purchases are of a pair's first product; its second follows weeks later, 70% of the time.
    swap = rng.random(len(p)) < 0.3
    p[swap] = rng.choice(heads, size=swap.sum())
    follows = swap & (rng.random(len(p)) < 0.7)
    c = np.concatenate([c, c[follows]])
    t = np.concatenate([t, t[follows] + rng.uniform(7 * 86_400, 56 * 86_400, size=follows.sum())])
    p = np.concatenate([p, np.array([pair_of[int(x)] for x in p[follows]], dtype=int)])
    keep = t < YEAR_S
    c, t, p = c[keep], t[keep], p[keep]
    amount = np.round(price[p] * rng.uniform(0.9, 1.1, size=len(p)), 2)

    # Two views of each purchase's product in the two weeks before it.
    ic, ip = np.repeat(c, 2), np.repeat(p, 2)
    it = np.repeat(t, 2) - rng.uniform(3600, 14 * 86_400, size=len(ic))
    # Views fill the rest: most of a contact's in their own category, the rest by popularity.
    views = max(events - 4 * len(p), 0)
    vc = rng.choice(contacts, size=views, p=_activity(rng, contacts))
    own = rng.integers(len(leaves), size=contacts)[vc]
    by_leaf = [np.flatnonzero(product_leaf == leaf) for leaf in range(len(leaves))]
    vp = rng.choice(products, size=views, p=popularity)
    mine = rng.random(views) < 0.6
    vp[mine] = [by_leaf[leaf][rng.integers(len(by_leaf[leaf]))] if len(by_leaf[leaf]) else 0 for leaf in own[mine]]
    names = np.concatenate([np.full(len(p), 2), np.full(len(p), 1), np.zeros(len(ic) + views, dtype=int)])
    return {"catalogue": catalogue,
            "events": (np.concatenate([c, c, ic, vc]),
                       np.concatenate([t, t - rng.uniform(60, 1800, size=len(t)), np.maximum(it, 0),
                                       rng.uniform(0, YEAR_S, size=views)]),
                       np.concatenate([p, p, ip, vp]), names,
                       np.concatenate([amount, amount, np.zeros(len(ic) + views)])),
            "open_hour": rng.choice([7, 8, 12, 13, 20, 21, 22], size=contacts), "emailed": rng.random(contacts) < 0.5,
            "purchases": len(p), "pairs": len(pair_of)}


def _activity(rng: np.random.Generator, contacts: int) -> np.ndarray:
    weights = rng.pareto(2.0, size=contacts) + 1
    return weights / weights.sum()


async def load_shop(database_url: str, shop: dict, contacts: int) -> dict:
    """The shop into Postgres with COPY, the events' secondary indexes built once after."""
    start = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc) - timedelta(days=365)
    figures = {}
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        started = time.perf_counter()
        now = datetime.now(timezone.utc)
        await conn.copy_records_to_table("contacts", columns=["external_id", "email", "attributes", "created_at",
                                                              "updated_at"], records=[
            (f"shopper-{i}", f"shopper-{i}@shop.example", "{}", start - timedelta(days=30), now)
            for i in range(contacts)])
        ids = np.array([r["id"] for r in await conn.fetch(
            "SELECT id FROM contacts WHERE external_id LIKE 'shopper-%' ORDER BY substr(external_id, 9)::int")])
        await conn.copy_records_to_table(
            "products", columns=["sku", "name", "description", "category", "brand", "price", "currency", "attributes",
                                 "created_at", "updated_at"],
            records=[(*row, "USD", "{}", now, now) for row in shop["catalogue"]])
        figures["contacts_products_s"] = round(time.perf_counter() - started, 1)

        started = time.perf_counter()
        c, t, p, names, amount = shop["events"]
        kinds = ("viewed_product", "added_to_cart", "purchase")
        records = [(f"ev-{n}", int(ids[ci]), kinds[k],
                    f'{{"sku": "sku-{pi:05d}", "amount": {a}}}' if k == 2 else f'{{"sku": "sku-{pi:05d}"}}',
                    start + timedelta(seconds=float(ti)), start + timedelta(seconds=float(ti)))
                   for n, (ci, ti, pi, k, a) in enumerate(zip(c.tolist(), t.tolist(), p.tolist(), names.tolist(),
                                                              amount.tolist()))]
        await bulk_copy(conn, "events", ["event_id", "contact_id", "name", "properties", "occurred_at", "received_at"],
                        records)
        figures["events_s"] = round(time.perf_counter() - started, 1)

        started = time.perf_counter()
        messages, engagement = _engagement(ids, shop, start)
        await bulk_copy(conn, "messages", [
            "id", "idempotency_key", "workflow_id", "journey_id", "journey_version", "node_id", "contact_id", "channel",
            "recipient", "subject", "links", "status", "transactional", "priority", "created_at", "sent_at", "test"],
            messages)
        await bulk_copy(conn, "engagement_events", [
            "message_id", "type", "source", "occurred_at", "received_at", "automated", "signal_due"], engagement)
        await conn.execute("VACUUM (ANALYZE) contacts, products, events, messages, engagement_events")
        figures["engagement_s"] = round(time.perf_counter() - started, 1)
        figures.update(messages=len(messages), engagement_events=len(engagement))
    finally:
        await conn.close()
    return figures


async def bulk_copy(conn: asyncpg.Connection, table: str, columns: list[str], records: list[tuple]) -> None:
    """COPY as a bulk load does: secondary indexes built once after, the per-row triggers (funnel
    counts, which no journey of this shop needs) off meanwhile."""
    secondary = await conn.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = $1 AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", table)
    for row in secondary:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    await conn.copy_records_to_table(table, columns=columns, records=records)
    await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    for row in secondary:
        await conn.execute(row["indexdef"])


def _engagement(ids: np.ndarray, shop: dict, start: datetime) -> tuple[list[tuple], list[tuple]]:
    """Three newsletters to the emailed half (02:00 UTC); each opens at their own hour, or not."""
    rng = np.random.default_rng(11)
    messages, engagement = [], []
    for i in np.flatnonzero(shop["emailed"]).tolist():
        for week in (300, 330, 360):
            sent = start + timedelta(days=week, hours=2)
            message = uuid.UUID(int=(i << 8) | (week % 256))
            messages.append((message, f"bench-{i}-{week}", f"bench/{i}", "newsletter", 1, "send", int(ids[i]), "email",
                             f"shopper-{i}@shop.example", "News", "[]", "sent", False, 0, sent, sent, False))
            if rng.random() < 0.5:
                opened = sent + timedelta(hours=int(shop["open_hour"][i]) - 2, minutes=float(rng.uniform(0, 50)))
                engagement.append((message, "opened", "pixel", opened, opened, False, False))
                if rng.random() < 0.3:
                    clicked = opened + timedelta(minutes=2)
                    engagement.append((message, "clicked", "link", clicked, clicked, False, False))
    return messages, engagement


async def nightly(stack) -> tuple[float, ModelsProgress]:
    """The real nightly run for DAY, on a worker in this process."""
    async with journey_worker(stack.client, stack.engine, stack.settings):
        started = time.perf_counter()
        run = await nightly_models.start_run(stack.client, stack.settings.task_queue, stack.settings.brand_time_zone,
                                             DAY, None)
        handle = stack.client.get_workflow_handle(run["id"], result_type=ModelsProgress)
        result = await handle.result()
        return time.perf_counter() - started, result


async def direct(stack) -> tuple[float, dict[str, float]]:
    """Baseline: the same steps called one after another in this process, no Temporal, for the
    day before (a day of its own, so each fits and writes as the nightly run did); with when
    each step's reported stage (`report_progress(stage=...)`) began, for a breakdown."""
    stages: dict[str, float] = {}
    started = time.perf_counter()
    for name in model_steps.STEPS:
        progress = model_steps.listen_for_progress()
        step = asyncio.create_task(model_steps.run_step(stack.engine, stack.settings, name, DAY - timedelta(days=1)))
        while not step.done():
            await asyncio.wait({step}, timeout=0.2)
            stages.setdefault(f"{name}.{progress.get('stage')}", round(time.perf_counter() - started, 1))
        step.result()
    return time.perf_counter() - started, stages


async def scoring(stack) -> tuple[float | None, int]:
    """Every contact's lifetime value for the next night predicted with the day's fitted model and
    stored, no fit; the seconds and how many values were written."""
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        as_of = end_of_day(DAY, stack.settings.brand_time_zone)
        model = await conn.fetchrow("SELECT version, params FROM prediction_models WHERE name = 'ltv' AND as_of = $1"
                                    " AND used", as_of)
        if model is None:
            return None, 0
        next_night = as_of + timedelta(days=1)
        params = json.loads(model["params"])
        bg_nbd, gamma_gamma = BgNbd(**params["bg_nbd"]), GammaGamma(**params["gamma_gamma"])
        settings = stack.settings
        # A night comes a day after the last: autovacuum has long cleared the rows the nightly run
        # and the baseline just rewrote (1.4 M dead row versions here, minutes before).
        await conn.execute("VACUUM ANALYZE contact_predictions")
        started, written = time.perf_counter(), 0
        async for low, high in contact_ranges(stack.engine, settings.prediction_chunk_contacts):
            chunk = await purchase_summary(conn, low, high, next_night, settings.purchase_event,
                                           settings.purchase_value_property)
            async with conn.transaction():
                written += await store_predictions(conn, lifetime_value.MODEL, model["version"],
                                                   lifetime_value._predictions(chunk, bg_nbd, gamma_gamma,
                                                                               settings.ltv_horizon_days))
        return round(time.perf_counter() - started, 2), written
    finally:
        await conn.close()


def cdnow() -> dict[str, float]:
    with CDNOW.open() as file:
        rows = list(csv.DictReader(file))
    model, _ = fit_bg_nbd(*(np.array([float(row[name]) for row in rows]) for name in ("x", "t_x", "T")))
    return {name: round(value, 4) for name, value in model.as_dict().items()}


def _metric(steps: dict, step: str, *path: str):
    """A step's metric by its path in the step's metrics (None while the step or metric is absent)."""
    value = (steps.get(step) or {}).get("metrics", {})
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


async def main(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    shop = make_shop(args.contacts, args.events, args.products)
    log.info("shop made in %.1f s: %d purchases, %d pairs", time.perf_counter() - started, shop["purchases"],
             shop["pairs"])
    figures = {"benchmark": "predict", "date": datetime.now(timezone.utc).date().isoformat(),
               "contacts": args.contacts, "events": len(shop["events"][0]), "products": args.products,
               "purchases": shop["purchases"]}
    async with bench_stack() as stack:
        figures["load"] = await load_shop(stack.database_url, shop, args.contacts)
        log.info("loaded: %s", figures["load"])
        if args.baseline_first:
            direct_s, figures["direct_stages_began_s"] = await direct(stack)
        seconds, run = await nightly(stack)
        log.info("nightly run in %.1f s: %s", seconds, run)
        steps = {outcome.step: {"status": outcome.status, "seconds": outcome.seconds, "error": outcome.error,
                                **({"version": outcome.result.version, "contacts": outcome.result.contacts,
                                    "changed": outcome.result.changed, "reason": outcome.result.reason,
                                    "metrics": outcome.result.metrics} if outcome.result else {})}
                 for outcome in run.finished}
        figures["nightly_s"] = round(seconds, 1)
        if not args.baseline_first:
            direct_s, figures["direct_stages_began_s"] = await direct(stack)
        figures["direct_s"] = round(direct_s, 1)
        log.info("baseline, the steps called directly: %.1f s", figures["direct_s"])
        figures["steps"] = {name: steps.get(name) for name in dict.fromkeys([*KNOWN_STEPS, *steps])}
        figures["scoring_s"], figures["scoring_written"] = await scoring(stack)
    figures.update(auc=_metric(steps, "propensity", "model", "auc"),
                   baseline_auc=_metric(steps, "propensity", "baseline", "auc"),
                   precision_at_5=_metric(steps, "recommendations", "cooccurrence_precision_at_5"),
                   popularity_precision_at_5=_metric(steps, "recommendations", "popularity_precision_at_5"),
                   cdnow=cdnow())
    return {**figures, "machine": machine()}


if __name__ == "__main__":
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true",
                        help="a quick run: 5,000 contacts, 100,000 events, 200 products")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--baseline-first", action="store_true",
                        help="call the steps directly before the nightly run rather than after it (the first run "
                             "writes every prediction anew on a cold cache)")
    arguments = parser.parse_args()
    if arguments.small:
        arguments.contacts, arguments.events, arguments.products = 5_000, 100_000, 200
    print_result(asyncio.run(main(arguments)))
