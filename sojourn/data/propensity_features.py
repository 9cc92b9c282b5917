"""What purchase propensity and churn learn from, per contact as of a cut-off, set-based over a
range of contact ids: recency, frequency and monetary value of purchases, events of each kind in
the last 7, 30 and 90 days, messages received, opened and clicked in the last 30 and 90 days,
tags and days since signup; and the label, whether the contact bought in the `horizon` after.

Everything is counted strictly before the cut-off and the label in [cut-off, cut-off + horizon),
so features as of one day never see what they are asked to predict. Tags keep no history: a
contact's tags counted are those last updated before the cut-off."""

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
EVENT_WINDOWS = (7, 30, 90)
MESSAGE_WINDOWS = (30, 90)

FEATURES = (
    "recency_days", "frequency", "monetary",
    *(f"{kind}_{days}d" for kind in EVENT_KINDS for days in EVENT_WINDOWS),
    *(f"{what}_{days}d" for what in ("received", "opened", "clicked") for days in MESSAGE_WINDOWS),
    "tags", "signup_days",
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
# property; $6 the end of the label's window; $7 the product events.
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
), tagged AS (
    SELECT contact_id, count(*) AS tags FROM contact_tags
    WHERE contact_id >= $1 AND contact_id < $2 AND updated_at < $3
    GROUP BY contact_id
)
SELECT c.id, c.created_at < $3 AS existed, coalesce(ev.label, false) AS label,
       ev.recency_days::float8 AS recency_days,
       coalesce(ev.frequency, 0)::float8 AS frequency, coalesce(ev.monetary, 0)::float8 AS monetary,
       {", ".join(f"coalesce(ev.{name}, 0)::float8 AS {name}" for name in _COUNTED)},
       {", ".join(f"coalesce({'sent' if name.startswith('received') else 'engaged'}.{name}, 0)::float8 AS {name}"
                  for name in _MESSAGE_COLUMNS)},
       coalesce(tagged.tags, 0)::float8 AS tags,
       greatest(extract(epoch FROM $3 - c.created_at) / 86400, 0)::float8 AS signup_days
FROM contacts AS c
LEFT JOIN ev ON ev.contact_id = c.id
LEFT JOIN sent ON sent.contact_id = c.id
LEFT JOIN engaged ON engaged.contact_id = c.id
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


async def propensity_features(conn: asyncpg.Connection, low: int, high: int, cut_off: datetime, horizon_days: int,
                              event: str, value_property: str) -> Features:
    """The features of every contact with an id in [low, high) as of `cut_off`, labelled by a
    purchase (`event` events) in the `horizon_days` after it."""
    rows = await conn.fetch(_FEATURES, low, high, cut_off, event, value_property,
                            cut_off + timedelta(days=horizon_days), list(PRODUCT_EVENTS))
    values = np.array([[np.nan if r[name] is None else r[name] for name in FEATURES] for r in rows],
                      dtype=float).reshape(len(rows), len(FEATURES))
    return Features(np.array([r["id"] for r in rows], dtype=np.int64), values,
                    np.array([r["existed"] for r in rows], dtype=bool), np.array([r["label"] for r in rows], dtype=bool))
