"""A journey's funnel over 1,000,000 runs and 5,000,000 step records, against a hand-written count.

The data is synthetic: written straight into Postgres with `INSERT ... SELECT generate_series`,
not made by running a million journeys (that would take the embedded stack days). That is fair
to the funnel because it never asks workflows: it reads the counts kept as rows move (migration
0016) and, for a range's partial edge days, `journey_runs`, `journey_steps`, `messages`,
`engagement_events` and `conversions`; the rows generated here have the shape, the indexes and
the proportions the running engine writes. They are generated as an older database holds them,
without the counts (the counting triggers and the tables' secondary indexes off, the indexes
rebuilt after), then counted by the migration's own backfill: what an upgraded database runs.

- one journey (welcome send, a pause, a branch on the welcome's open, an offer send, a
  `wait_for` purchase with a timeout, a thanks send, an exit), 1,000,000 runs entered over 30
  days, 2% still resting at the pause, 3% exited by an event, the rest completed;
- about 5,000,000 steps: per 20 runs, 9 take the branch's `else` (4 steps), 9 the offer and time
  out (6) and 2 buy (7); those resting or exited have 2; one welcome in 20 is skipped (no address) with its reason;
- a message per send that was sent (about 1.4 M), each with a `delivered` event; opens on 40%
  of messages (1-3 each), clicks on 12% (1-2), bounces 1%, complaints 0.1%, unsubscribes 0.5%
  (about 3.2 M engagement rows); a conversion with a value for every buyer and for 3% of the
  others, attributed to the last message sent.

Measured, each the median of `--calls` calls after one warm-up call:

- `funnel_s` (the headline): `GET /v1/journeys/{id}/funnel` over HTTP from the API as deployed
  (`python -m api`, its own process), the whole answer, as the CLI and a console see it;
- `service_s`: `sojourn.services.funnels.funnel` called in this process (the queries and their
  assembly, no HTTP);
- `range_s`: the same in process for a range whose edges fall inside days (about 15 days: whole
  days from the counts, the two partial days counted from the raw rows);
- `handwritten_s`: the same four counts written by hand in SQL over the raw rows (steps by node
  and way out, runs by status and exit reason, engagement per send node, conversions per node),
  run in turn on one asyncpg connection: the baseline, what counting at each call costs.

The arms alternate (funnel, service, range, hand-written) within each round, so a busy moment on a
shared machine falls on all of them. Target: funnel_s < 0.3.

    .venv/bin/python bench/funnel.py [--runs 1000000] [--calls 7]

Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from ingest import API_KEY, ApiProcess

from sojourn.data import funnels as funnel_data
from sojourn.data.db import session_factory
from sojourn.services.funnels import funnel

from common import bench_stack, machine, print_result, setup_logging

log = logging.getLogger("bench.funnel")

JOURNEY = "funnel-bench"
MIGRATION = Path(__file__).parents[1] / "sojourn/data/migrations/versions/0016_funnel_counts.py"
TABLES = ("journey_runs", "journey_steps", "messages", "engagement_events", "conversions")
DEFINITION = {
    "name": "Funnel bench",
    "exit_on": [{"event": "opt.out"}],
    "goal": {"event": "purchase", "within": "3d", "value": "properties.amount", "exit": False},
    "nodes": [
        {"id": "welcome", "type": "send", "subject": "Welcome", "text": "Hi", "next": "pause"},
        {"id": "pause", "type": "wait", "duration": "1d", "next": "engaged"},
        {"id": "engaged", "type": "branch", "condition": {"opened": "welcome"}, "then": "offer", "else": "end"},
        {"id": "offer", "type": "send", "subject": "Offer", "text": "Buy", "next": "buys"},
        {"id": "buys", "type": "wait_for", "event": {"event": "purchase"}, "timeout": "2d",
         "on_event": "thanks", "on_timeout": "end"},
        {"id": "thanks", "type": "send", "subject": "Thanks", "text": "Thanks", "next": "end"},
        {"id": "end", "type": "exit"},
    ],
}

# Each run's shape from its number i: i % 20 < 9 takes `else`, < 18 the offer and its timeout,
# else buys. 1 in 50 rests at the pause (entered the last day), 3 in 100 exit at the pause.
_RUNS = """
INSERT INTO journey_runs (run_id, workflow_id, journey_id, version, contact_id, status, exit_reason,
                          converted_at, enrolled_at, ended_at)
SELECT 'run-' || i, 'journey/{journey}/' || i, '{journey}', 1 + (i % 2), c.id,
       CASE WHEN i % 50 = 0 THEN 'active' WHEN i % 100 IN (1, 2, 3) THEN 'exited' ELSE 'completed' END,
       CASE WHEN i % 100 IN (1, 2, 3) AND i % 50 <> 0 THEN 'exit_on: opt.out' END,
       CASE WHEN i % 20 >= 18 OR i % 33 = 0 THEN start + interval '2 days' END,
       start, CASE WHEN i % 50 <> 0 THEN start + interval '3 days' END
FROM (SELECT i, now() - interval '30 days' + (i * interval '30 days') / {runs} AS start
      FROM generate_series(0, {runs} - 1) AS i) AS r
JOIN contacts AS c ON c.external_id = 'fb-' || (i % {contacts})
"""

# Steps in node order; `n` is the step's number in the run (1-based).
_STEPS = """
INSERT INTO journey_steps (run_id, seq, journey_id, version, contact_id, node_id, node_type, run_started_at,
                           entered_at, left_at, outcome, reason)
SELECT r.run_id, s.n, r.journey_id, r.version, r.contact_id, s.node_id, s.node_type, r.enrolled_at,
       r.enrolled_at + s.n * interval '1 hour',
       CASE WHEN r.status = 'active' AND s.node_id = 'pause' THEN NULL ELSE r.enrolled_at + (s.n + 1) * interval '1 hour' END,
       CASE WHEN r.status = 'exited' AND s.node_id = 'pause' THEN 'exited'
            WHEN r.status = 'active' AND s.node_id = 'pause' THEN NULL ELSE s.outcome END,
       CASE WHEN s.node_id = 'welcome' AND s.outcome = 'skipped' THEN 'contact has no email address' END
FROM (SELECT run_id, journey_id, version, contact_id, enrolled_at, status,
             substr(run_id, 5)::bigint AS i FROM journey_runs WHERE journey_id = '{journey}') AS r
CROSS JOIN LATERAL (VALUES
    (1, 'welcome', 'send', CASE WHEN r.i % 20 = 7 THEN 'skipped' ELSE 'sent' END),
    (2, 'pause', 'wait', NULL),
    (3, 'engaged', 'branch', CASE WHEN r.i % 20 < 9 THEN 'else' ELSE 'then' END),
    (4, CASE WHEN r.i % 20 < 9 THEN 'end' ELSE 'offer' END, CASE WHEN r.i % 20 < 9 THEN 'exit' ELSE 'send' END,
        CASE WHEN r.i % 20 < 9 THEN NULL ELSE 'sent' END),
    (5, 'buys', 'wait_for', CASE WHEN r.i % 20 < 18 THEN 'timeout' ELSE 'event' END),
    (6, CASE WHEN r.i % 20 < 18 THEN 'end' ELSE 'thanks' END, CASE WHEN r.i % 20 < 18 THEN 'exit' ELSE 'send' END,
        CASE WHEN r.i % 20 < 18 THEN NULL ELSE 'sent' END),
    (7, 'end', 'exit', NULL)
) AS s(n, node_id, node_type, outcome)
WHERE (s.n <= 4 OR r.i % 20 >= 9) AND (s.n <= 6 OR r.i % 20 >= 18)
  AND NOT (r.status IN ('active', 'exited') AND s.n > 2)
"""

_MESSAGES = """
INSERT INTO messages (id, idempotency_key, workflow_id, journey_id, journey_version, node_id, contact_id, channel,
                      recipient, subject, status, created_at, sent_at)
SELECT gen_random_uuid(), r.workflow_id || '/' || r.run_id || '/' || st.node_id || '/1', r.workflow_id, r.journey_id,
       r.version, st.node_id, r.contact_id, 'email', 'fb@bench.example', st.node_id, 'sent', st.entered_at, st.entered_at
FROM journey_steps AS st JOIN journey_runs AS r ON r.run_id = st.run_id
WHERE st.journey_id = '{journey}' AND st.node_type = 'send' AND st.outcome = 'sent'
"""

# Engagement by the message's hash: proportions stay the same whatever order rows come in.
_ENGAGEMENT = """
INSERT INTO engagement_events (message_id, type, source, occurred_at, received_at)
SELECT m.id, e.type, e.source, m.sent_at + interval '1 hour', m.sent_at + interval '1 hour'
FROM (SELECT id, sent_at, abs(hashtext(id::text)) % 1000 AS h FROM messages WHERE journey_id = '{journey}') AS m
CROSS JOIN LATERAL (VALUES ('delivered', 'webhook', 1), ('opened', 'pixel', CASE WHEN m.h < 400 THEN 1 + m.h % 3 ELSE 0 END),
                           ('clicked', 'link', CASE WHEN m.h < 120 THEN 1 + m.h % 2 ELSE 0 END),
                           ('bounced', 'webhook', CASE WHEN m.h >= 990 THEN 1 ELSE 0 END),
                           ('complained', 'webhook', CASE WHEN m.h = 989 THEN 1 ELSE 0 END),
                           ('unsubscribed', 'link', CASE WHEN m.h BETWEEN 980 AND 984 THEN 1 ELSE 0 END)) AS e(type, source, times)
CROSS JOIN LATERAL generate_series(1, e.times)
"""

_CONVERSIONS = """
INSERT INTO conversions (run_id, journey_id, version, contact_id, run_started_at, event_id, occurred_at, value,
                         message_id, node_id)
SELECT r.run_id, r.journey_id, r.version, r.contact_id, r.enrolled_at, 'buy-' || r.run_id, r.converted_at,
       10 + length(r.run_id) % 90, last.id, last.node_id
FROM journey_runs AS r
LEFT JOIN LATERAL (SELECT m.id, m.node_id FROM messages AS m WHERE m.workflow_id = r.workflow_id
                   ORDER BY m.sent_at DESC LIMIT 1) AS last ON true
WHERE r.journey_id = '{journey}' AND r.converted_at IS NOT NULL
"""

# The baseline: the funnel's four counts as one would write them by hand.
HANDWRITTEN = [
    """SELECT node_id, outcome, CASE WHEN outcome = 'skipped' THEN reason END, left_at IS NULL, count(*)
       FROM journey_steps WHERE journey_id = $1 GROUP BY 1, 2, 3, 4""",
    """SELECT status, exit_reason, count(*) FROM journey_runs WHERE journey_id = $1 GROUP BY 1, 2""",
    """SELECT m.node_id, e.type, count(DISTINCT e.message_id), count(*)
       FROM messages AS m JOIN engagement_events AS e ON e.message_id = m.id AND NOT e.automated
       WHERE m.journey_id = $1 AND NOT m.test GROUP BY 1, 2""",
    """SELECT node_id, count(*), coalesce(sum(value), 0) FROM conversions WHERE journey_id = $1 GROUP BY 1""",
]


async def generate(pg: asyncpg.Connection, runs: int) -> dict:
    contacts = max(runs // 10, 1)  # a contact goes through the journey about ten times over the month
    await pg.execute("INSERT INTO contacts (external_id, email) "
                     "SELECT 'fb-' || i, 'fb-' || i || '@bench.example' FROM generate_series(0, $1 - 1) AS i", contacts)
    await pg.execute("INSERT INTO journeys (id, name, status, latest_version) VALUES ($1, 'Funnel bench', 'active', 2)",
                     JOURNEY)
    for version in (1, 2):
        await pg.execute("INSERT INTO journey_versions (journey_id, version, definition) VALUES ($1, $2, $3::jsonb)",
                         JOURNEY, version, json.dumps(DEFINITION))
    # Bulk loading: indexes that back no constraint are built once at the end rather than kept
    # row by row, and the counting triggers are off (the backfill counts the rows afterwards).
    indexes = [row["definition"] for row in await pg.fetch(
        "SELECT pg_get_indexdef(i.indexrelid) AS definition FROM pg_index i"
        " WHERE i.indrelid = ANY($1::regclass[]) AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        list(TABLES))]
    for definition in indexes:
        await pg.execute(f"DROP INDEX {definition.split()[2 if definition.startswith('CREATE INDEX') else 3]}")
    for table in TABLES:
        await pg.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    counts, seconds = {}, {}

    async def insert(name: str, statement: str) -> None:
        began = time.monotonic()
        status = await pg.execute(statement.format(journey=JOURNEY, runs=runs, contacts=contacts), timeout=3600)
        counts[name] = int(status.split()[-1])
        seconds[name] = round(time.monotonic() - began)
        log.info("%s: %s rows in %.0f s", name, f"{counts[name]:,}", seconds[name])

    for name, statement in (("runs", _RUNS), ("steps", _STEPS), ("messages", _MESSAGES), ("engagement", _ENGAGEMENT)):
        await insert(name, statement)
    began = time.monotonic()
    for definition in indexes:
        await pg.execute(definition, timeout=3600)
    seconds["indexes"] = round(time.monotonic() - began)
    await insert("conversions", _CONVERSIONS)  # finds each run's last message by the index on workflow_id
    for table in TABLES:
        await pg.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    await pg.execute("VACUUM ANALYZE", timeout=3600)  # as autovacuum would have by now
    began = time.monotonic()
    async with pg.transaction():
        for statement in _backfill():
            await pg.execute(statement, timeout=3600)
    seconds["backfill"] = round(time.monotonic() - began)
    log.info("indexes rebuilt in %d s, counts backfilled in %d s", seconds["indexes"], seconds["backfill"])
    await pg.execute("VACUUM ANALYZE", timeout=3600)
    return {"rows": counts, "seconds": seconds}


def _backfill() -> list[str]:
    """Migration 0016's backfill statements."""
    spec = importlib.util.spec_from_file_location("migration_0016", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return migration._statements(migration._BACKFILL)


async def one_http(http: httpx.AsyncClient) -> float:
    began = time.perf_counter()
    response = await http.get(f"/v1/journeys/{JOURNEY}/funnel")
    elapsed = time.perf_counter() - began
    response.raise_for_status()
    return elapsed


async def one_service(stack) -> tuple[float, dict]:
    began = time.perf_counter()
    async with session_factory(stack.engine)() as session:
        answer = await funnel(session, funnel_data.Scope(JOURNEY))
    return time.perf_counter() - began, answer


def edged(runs_end: datetime) -> funnel_data.Scope:
    """A range whose edges fall inside days (two partial days counted from the raw rows)."""
    return funnel_data.Scope(JOURNEY, None, runs_end - timedelta(days=20, hours=10, minutes=53),
                             runs_end - timedelta(days=5, hours=19))


async def one_range(stack, where: funnel_data.Scope) -> float:
    began = time.perf_counter()
    async with session_factory(stack.engine)() as session:
        await funnel(session, where)
    return time.perf_counter() - began


async def one_handwritten(pg: asyncpg.Connection) -> float:
    began = time.perf_counter()
    for statement in HANDWRITTEN:
        await pg.fetch(statement, JOURNEY)
    return time.perf_counter() - began


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the stack's directory")
    args = parser.parse_args()
    setup_logging()
    async with bench_stack(keep=args.keep) as stack:
        pg = await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg", "postgresql"))
        generated = await generate(pg, args.runs)
        counts = generated["rows"]
        async with ApiProcess(stack) as api, httpx.AsyncClient(
                base_url=api.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120) as http:
            where = edged(await pg.fetchval("SELECT max(enrolled_at) FROM journey_runs WHERE journey_id = $1", JOURNEY))
            await one_http(http), await one_service(stack), await one_range(stack, where), await one_handwritten(pg)
            figures: dict[str, list[float]] = {"funnel": [], "service": [], "range": [], "handwritten": []}
            for call in range(args.calls):
                figures["funnel"].append(await one_http(http))
                seconds, answer = await one_service(stack)
                figures["service"].append(seconds)
                figures["range"].append(await one_range(stack, where))
                figures["handwritten"].append(await one_handwritten(pg))
                log.info("call %d: http %.3f s, service %.3f s, range %.3f s, hand-written %.3f s", call + 1,
                         figures["funnel"][-1], figures["service"][-1], figures["range"][-1], figures["handwritten"][-1])
        await pg.close()
    steps = sum(node["entered"] for node in answer["nodes"])
    assert answer["journey"]["entered"] == counts["runs"] and steps == counts["steps"], (answer["journey"], steps)
    funnel_s, handwritten_s = statistics.median(figures["funnel"]), statistics.median(figures["handwritten"])
    print_result({
        "funnel_s": round(funnel_s, 4), "handwritten_s": round(handwritten_s, 4),
        "service_s": round(statistics.median(figures["service"]), 4),
        "range_s": round(statistics.median(figures["range"]), 4),
        "ratio": round(funnel_s / handwritten_s, 4), "target_met": funnel_s < 0.3,
        "calls": {name: [round(s, 4) for s in values] for name, values in figures.items()},
        "rows": counts, "generation_s": generated["seconds"], "machine": machine(),
    })


if __name__ == "__main__":
    asyncio.run(main())
