"""Conversions, found as events are stored, in the same transaction (an accepted goal event is
never lost): a goal event of a journey counts for each of the contact's runs of a version with
that goal that it reached within the goal's window after the run entered (`journey_runs.enrolled_at`).
It is attributed to the last message of that journey the contact received before it (sent or
unconfirmed, test sends aside). A run converts once, on its earliest goal event: one reported
later with an earlier time replaces it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg

from sojourn.dsl.definition import Goal
from sojourn.dsl.durations import parse_duration
from sojourn.dsl.filters import properties_match

if TYPE_CHECKING:
    from sojourn.data.ingest.events import IngestedEvent

_GOALS = """
SELECT journey_id, version, definition->'goal' AS goal FROM journey_versions
WHERE definition->'goal'->>'event' = ANY($1::text[])"""

_RUNS = """
SELECT r.run_id, r.journey_id, r.version, r.contact_id, r.enrolled_at
FROM journey_runs r JOIN unnest($1::text[], $2::int[]) AS g(journey_id, version)
  ON r.journey_id = g.journey_id AND r.version = g.version
WHERE r.contact_id = ANY($3::bigint[]) AND r.enrolled_at <= $4"""

_LAST_MESSAGE = """
SELECT id, node_id FROM messages
WHERE contact_id = $1 AND journey_id = $2 AND status IN ('sent', 'unconfirmed') AND NOT test
  AND coalesce(sent_at, created_at) <= $3
ORDER BY coalesce(sent_at, created_at) DESC LIMIT 1"""

_INSERT = """
INSERT INTO conversions (run_id, journey_id, version, contact_id, run_started_at, event_id, occurred_at, value,
                         message_id, node_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (run_id) DO UPDATE SET event_id = excluded.event_id, occurred_at = excluded.occurred_at,
  value = excluded.value, message_id = excluded.message_id, node_id = excluded.node_id
WHERE conversions.occurred_at > excluded.occurred_at"""


def _json(value: str | dict) -> dict:
    return json.loads(value) if isinstance(value, str) else value


async def record_conversions(conn: asyncpg.Connection, events: Sequence[IngestedEvent]) -> None:
    """Record the conversions `events` (just stored, in this transaction) make."""
    if not events:
        return
    goals = {(r["journey_id"], r["version"]): Goal.model_validate(_json(r["goal"]))
             for r in await conn.fetch(_GOALS, sorted({e.name for e in events}))}
    if not goals:
        return
    keys = sorted(goals)
    runs = await conn.fetch(_RUNS, [k[0] for k in keys], [k[1] for k in keys],
                            sorted({e.contact_id for e in events}), max(e.occurred_at for e in events))
    by_contact: dict[int, list[IngestedEvent]] = {}
    for event in sorted(events, key=lambda e: e.occurred_at):
        by_contact.setdefault(event.contact_id, []).append(event)
    for run in runs:
        goal = goals[run["journey_id"], run["version"]]
        window = parse_duration(goal.within) if goal.within else timedelta.max
        event = next((e for e in by_contact.get(run["contact_id"], [])
                      if e.name == goal.event and properties_match(goal.where, e.properties)
                      and timedelta(0) <= e.occurred_at - run["enrolled_at"] <= window), None)
        if event is None:
            continue
        message = await conn.fetchrow(_LAST_MESSAGE, run["contact_id"], run["journey_id"], event.occurred_at)
        await conn.execute(_INSERT, run["run_id"], run["journey_id"], run["version"], run["contact_id"],
                           run["enrolled_at"], event.event_id, event.occurred_at, goal.value_of(event.properties),
                           message["id"] if message else None, message["node_id"] if message else None)
