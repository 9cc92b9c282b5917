"""What purchase propensity and churn learn from, per contact as of a cut-off, set-based over a
range of contact ids: recency, frequency and monetary value of purchases; the rhythm of a
contact's purchases (mean days between them, how far into the next one the contact is, how
regular they are); how often the product of the last purchase is followed by another purchase;
events of each kind in the last 7, 14, 30 and 90 days; intent (products viewed at least twice in
the last INTENT_DAYS, and the best view-to-purchase rate among the products viewed then);
messages received, opened and clicked in the last 30 and 90 days; tags and days since signup;
and the label, whether the contact bought in the `horizon` after.

Everything is counted strictly before the cut-off and the label in [cut-off, cut-off + horizon),
so features as of one day never see what they are asked to predict; the products' rates are
counted from purchases and views whose outcome was known before the cut-off. Tags keep no
history: a contact's tags counted are those last updated before the cut-off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import numpy as np

from sojourn.data.product_events import CART_EVENT, VIEW_EVENT
from sojourn.data.purchases import purchase_value

# The kinds of event counted per window: the product events, the purchase event, and the rest.
PRODUCT_EVENTS = (VIEW_EVENT, CART_EVENT)
EVENT_KINDS = (*PRODUCT_EVENTS, "purchase", "other")
EVENT_WINDOWS = (7, 14, 30, 90)
MESSAGE_WINDOWS = (30, 90)
# Views this recent are read as intent: a product viewed twice, or one that viewers often buy.
INTENT_DAYS = 14

FEATURES = (
    "recency_days", "frequency", "monetary",
    "interval_days", "overdue", "interval_cv", "last_product_follow_rate",
    *(f"{kind}_{days}d" for kind in EVENT_KINDS for days in EVENT_WINDOWS),
    *(f"{what}_{days}d" for what in ("received", "opened", "clicked") for days in MESSAGE_WINDOWS),
    "repeat_viewed", "viewed_conversion", "tags", "signup_days",
)


def _kind_condition(kind: str) -> str:
    if kind == "purchase":
        return "name = $4"
    if kind == "other":
        return "name <> $4 AND name <> ALL($7::text[])"
    return f"name = '{kind}'"


_EVENT_COUNTS = ",\n".join(
    f"count(*) FILTER (WHERE {_kind_condition(kind)} AND occurred_at >= $3 - interval '{days} days' "
    f"AND occurred_at < $3) AS {kind}_{days}d"
    for kind in EVENT_KINDS for days in EVENT_WINDOWS)
_MESSAGE_COUNTS = ",\n".join(
    f"count(*) FILTER (WHERE coalesce(sent_at, created_at) >= $3 - interval '{days} days') AS received_{days}d"
    for days in MESSAGE_WINDOWS)
# A message counts once however often it was opened or clicked; a link scanner's clicks never.
_ENGAGEMENT_COUNTS = ",\n".join(
    f"count(DISTINCT e.message_id) FILTER (WHERE e.type = '{what}' AND e.occurred_at >= $3 - interval '{days} days')"
    f" AS {what}_{days}d"
    for what in ("opened", "clicked") for days in MESSAGE_WINDOWS)
_COUNTED = [f"{kind}_{days}d" for kind in EVENT_KINDS for days in EVENT_WINDOWS]
_MESSAGE_COLUMNS = [f"{what}_{days}d" for what in ("received", "opened", "clicked") for days in MESSAGE_WINDOWS]

# $1, $2: the contact id range; $3 the cut-off; $4 the purchase event and $5 its value
# property; $6 the end of the label's window; $7 the product events; $8-$11 ProductRates.args().
_FEATURES = f"""
WITH ev AS (
    SELECT contact_id,
           extract(epoch FROM $3 - max(occurred_at) FILTER (WHERE name = $4 AND occurred_at < $3)) / 86400
               AS recency_days,
           count(*) FILTER (WHERE name = $4 AND occurred_at < $3) AS frequency,
           coalesce(sum(greatest({purchase_value("$5")}, 0)) FILTER (WHERE name = $4 AND occurred_at < $3), 0)
               AS monetary,
           {_EVENT_COUNTS},
           bool_or(name = $4 AND occurred_at >= $3) AS label
    FROM events
    WHERE contact_id >= $1 AND contact_id < $2 AND occurred_at < $6
      AND (name = $4 OR occurred_at >= $3 - interval '{max(EVENT_WINDOWS)} days')
    GROUP BY contact_id
), sent AS (
    SELECT contact_id, {_MESSAGE_COUNTS}
    FROM messages
    WHERE contact_id >= $1 AND contact_id < $2 AND status = 'sent' AND NOT test
      AND coalesce(sent_at, created_at) < $3
      AND coalesce(sent_at, created_at) >= $3 - interval '{max(MESSAGE_WINDOWS)} days'
    GROUP BY contact_id
), engaged AS (
    SELECT m.contact_id, {_ENGAGEMENT_COUNTS}
    FROM engagement_events AS e JOIN messages AS m ON m.id = e.message_id
    WHERE m.contact_id >= $1 AND m.contact_id < $2 AND NOT e.automated AND e.type IN ('opened', 'clicked')
      AND e.occurred_at < $3 AND e.occurred_at >= $3 - interval '{max(MESSAGE_WINDOWS)} days'
    GROUP BY m.contact_id
), rhythm AS (
    -- One pass over the purchases: the gaps between them (their mean is the interval) and the last one's product.
    SELECT contact_id, avg(gap) AS interval_days, stddev_samp(gap) / nullif(avg(gap), 0) AS interval_cv,
           min(sku) FILTER (WHERE from_last = 1) AS last_sku
    FROM (SELECT contact_id, properties ->> 'sku' AS sku,
                 extract(epoch FROM occurred_at - lag(occurred_at) OVER (
                     PARTITION BY contact_id ORDER BY occurred_at)) / 86400 AS gap,
                 row_number() OVER (PARTITION BY contact_id ORDER BY occurred_at DESC) AS from_last
          FROM events
          WHERE contact_id >= $1 AND contact_id < $2 AND name = $4 AND occurred_at < $3) AS bought
    GROUP BY contact_id
), intent AS (
    -- One pass over the recent views, by product: those viewed twice, and the best of their rates.
    SELECT v.contact_id, count(*) FILTER (WHERE v.views >= 2) AS repeat_viewed,
           max(conversion.rate) AS viewed_conversion
    FROM (SELECT contact_id, properties ->> 'sku' AS sku, count(*) AS views FROM events
          WHERE contact_id >= $1 AND contact_id < $2 AND name = '{VIEW_EVENT}'
            AND occurred_at < $3 AND occurred_at >= $3 - interval '{INTENT_DAYS} days'
          GROUP BY 1, 2) AS v
    LEFT JOIN unnest($10::text[], $11::float8[]) AS conversion(sku, rate) ON conversion.sku = v.sku
    GROUP BY v.contact_id
), tagged AS (
    SELECT contact_id, count(*) AS tags FROM contact_tags
    WHERE contact_id >= $1 AND contact_id < $2 AND updated_at < $3
    GROUP BY contact_id
)
SELECT c.id, c.created_at < $3 AS existed, coalesce(ev.label, false) AS label,
       ev.recency_days::float8 AS recency_days,
       coalesce(ev.frequency, 0)::float8 AS frequency, coalesce(ev.monetary, 0)::float8 AS monetary,
       rhythm.interval_days::float8 AS interval_days,
       (ev.recency_days / nullif(rhythm.interval_days, 0))::float8 AS overdue,
       rhythm.interval_cv::float8 AS interval_cv, follow.rate AS last_product_follow_rate,
       coalesce(intent.repeat_viewed, 0)::float8 AS repeat_viewed, intent.viewed_conversion,
       {", ".join(f"coalesce(ev.{name}, 0)::float8 AS {name}" for name in _COUNTED)},
       {", ".join(f"coalesce({'sent' if name.startswith('received') else 'engaged'}.{name}, 0)::float8 AS {name}"
                  for name in _MESSAGE_COLUMNS)},
       coalesce(tagged.tags, 0)::float8 AS tags,
       greatest(extract(epoch FROM $3 - c.created_at) / 86400, 0)::float8 AS signup_days
FROM contacts AS c
LEFT JOIN ev ON ev.contact_id = c.id
LEFT JOIN sent ON sent.contact_id = c.id
LEFT JOIN engaged ON engaged.contact_id = c.id
LEFT JOIN rhythm ON rhythm.contact_id = c.id
LEFT JOIN unnest($8::text[], $9::float8[]) AS follow(sku, rate) ON follow.sku = rhythm.last_sku
LEFT JOIN intent ON intent.contact_id = c.id
LEFT JOIN tagged ON tagged.contact_id = c.id
WHERE c.id >= $1 AND c.id < $2
ORDER BY c.id
"""


@dataclass
class Features:
    """Contacts in id order: `values[i]` holds contact i's FEATURES (recency_days is NaN for a
    contact who never bought), `existed` whether it was created before the cut-off, `label`
    whether it bought in the window after."""

    contact_ids: np.ndarray
    values: np.ndarray
    existed: np.ndarray
    label: np.ndarray

    @staticmethod
    def concatenate(parts: list[Features]) -> Features:
        if not parts:
            return Features(np.zeros(0, np.int64), np.zeros((0, len(FEATURES))), np.zeros(0, bool), np.zeros(0, bool))
        return Features(*(np.concatenate([getattr(p, name) for p in parts])
                          for name in ("contact_ids", "values", "existed", "label")))

    def column(self, name: str) -> np.ndarray:
        return self.values[:, FEATURES.index(name)]


# Per product, how often a purchase of it was followed by another purchase by the same contact
# within the horizon, over the purchases whose horizon ended before the cut-off ($1 the event,
# $2 the cut-off, $3 the horizon in days): refills and complements are followed, one-offs not.
_FOLLOW_RATES = """
SELECT e.properties ->> 'sku' AS sku,
       avg((EXISTS (SELECT 1 FROM events AS f WHERE f.contact_id = e.contact_id AND f.name = $1
                    AND f.occurred_at > e.occurred_at
                    AND f.occurred_at < e.occurred_at + make_interval(days => $3::int)))::int)::float8 AS rate
FROM events AS e
WHERE e.name = $1 AND e.occurred_at < $2::timestamptz - make_interval(days => $3::int)
  AND jsonb_typeof(e.properties -> 'sku') IN ('string', 'number')
GROUP BY 1 HAVING count(*) >= 5
"""
# Per product, how often a contact who viewed it bought it within INTENT_DAYS, over the views of
# the 90 days before the last INTENT_DAYS before the cut-off ($1 the event, $2 the cut-off): some
# products are looked at on the way to buying them, others browsed past.
_VIEW_CONVERSION = f"""
SELECT v.sku, avg((EXISTS (SELECT 1 FROM events AS f WHERE f.contact_id = v.contact_id AND f.name = $1
                           AND f.occurred_at > v.at AND f.occurred_at < v.at + interval '{INTENT_DAYS} days'
                           AND f.properties ->> 'sku' = v.sku))::int)::float8 AS rate
FROM (SELECT contact_id, properties ->> 'sku' AS sku, max(occurred_at) AS at FROM events
      WHERE name = '{VIEW_EVENT}' AND occurred_at < $2::timestamptz - interval '{INTENT_DAYS} days'
        AND occurred_at >= $2::timestamptz - interval '{INTENT_DAYS + 90} days'
      GROUP BY 1, 2) AS v
GROUP BY 1 HAVING count(*) >= 5
"""


@dataclass(frozen=True)
class ProductRates:
    """What products say of the contacts who touch them, as of one cut-off, by sku: how often a
    purchase was followed by another (`follow`), how often a view became a purchase (`conversion`).
    Products with fewer than 5 purchases (views) have no rate."""

    follow: dict[str, float]
    conversion: dict[str, float]

    def args(self) -> tuple:
        return list(self.follow), list(self.follow.values()), list(self.conversion), list(self.conversion.values())


async def product_rates(conn: asyncpg.Connection, cut_off: datetime, horizon_days: int, event: str) -> ProductRates:
    """The product rates as of `cut_off`, over the whole shop: once per cut-off, not per chunk."""
    follow = await conn.fetch(_FOLLOW_RATES, event, cut_off, horizon_days)
    conversion = await conn.fetch(_VIEW_CONVERSION, event, cut_off)
    return ProductRates({r["sku"]: r["rate"] for r in follow}, {r["sku"]: r["rate"] for r in conversion})


async def propensity_features(conn: asyncpg.Connection, low: int, high: int, cut_off: datetime, horizon_days: int,
                              event: str, value_property: str, rates: ProductRates) -> Features:
    """The features of every contact with an id in [low, high) as of `cut_off`, labelled by a
    purchase (`event` events) in the `horizon_days` after it."""
    rows = await conn.fetch(_FEATURES, low, high, cut_off, event, value_property,
                            cut_off + timedelta(days=horizon_days), list(PRODUCT_EVENTS),
                            *rates.args())
    values = np.array([[np.nan if r[name] is None else r[name] for name in FEATURES] for r in rows],
                      dtype=float).reshape(len(rows), len(FEATURES))
    return Features(np.array([r["id"] for r in rows], dtype=np.int64), values,
                    np.array([r["existed"] for r in rows], dtype=bool), np.array([r["label"] for r in rows], dtype=bool))
