"""Ingestion throughput: events per second through `POST /v1/events`, against a bare COPY.

Part 1 (ingest). N events (default 200,000) over C contacts (default 10,000) that
exist already, with a few properties each and a unique `event_id`:

- Sojourn: the real API as deployed (`python -m api`, uvicorn, its own process) on a
  free port of the embedded stack, over real HTTP on loopback. This process posts the
  events in batches of 1,000 (`{"events": [...]}`, the bodies encoded before the clock
  starts) with `--concurrency` requests in flight. The API validates each item,
  resolves the contacts, drops the event ids stored before, COPYs the rest into
  `events` (falling back to `INSERT ... ON CONFLICT DO NOTHING` on a race), and hands the new events to the journey triggers
  (no journey listens here, so that costs a lookup).
- Bare: in the same run, asyncpg `copy_records_to_table` of the same rows (contact ids
  already resolved, properties already JSON) into a table identical to `events`
  (`LIKE events INCLUDING ALL` plus the same foreign key): once in batches of 1,000 on
  one connection, once as a single COPY of all rows.


Each arm starts on an empty table after a CHECKPOINT; the arms run in turn and the order
alternates between rounds; the figure of an arm is its median over the rounds.
ratio = Sojourn / bare COPY of the same 1,000-row batches, the baseline of the same shape
(target >= 0.5); the ratio to the single COPY of all rows is reported beside it. Since the machine may be shared,
the CPU each arm costs (API process, Postgres, this process) per 1,000 events is
reported too.

Then the contact import: `POST /v1/contacts/import` of a 100,000-row CSV streamed to the
same API (new contacts), and the same file again (all unchanged), in rows per second.

Part 2 (segment count over 1,000,000 contacts / 10,000,000 events): see
`segment_part` below, the hook where it goes.

    .venv/bin/python bench/ingest.py [--events 200000] [--contacts 10000] [--concurrency 4] [--rounds 3]

Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import asyncpg
import httpx
import psutil

from sojourn.dev.postgres import free_port
from sojourn.dev.temporal import terminate

from common import Stack, add_contacts, bench_stack, chunks, machine, print_result, setup_logging

log = logging.getLogger("bench.ingest")

API_KEY = "bench-key"
BATCH = 1000
ARMS = ["api", "bare_batched", "bare_single"]

NAMES = ["page.viewed", "product.viewed", "cart.updated", "checkout.started", "order.completed"]


def make_events(run: str, count: int, contacts: list[str]) -> list[dict]:
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    events = []
    for i in range(count):
        name = NAMES[i % len(NAMES)]
        events.append({
            "contact": contacts[(i * 7919) % len(contacts)],
            "name": name,
            "event_id": f"{run}-{i:08d}",
            "occurred_at": (start + timedelta(seconds=17 * i)).isoformat(),
            "properties": {"sku": f"SKU-{i % 500:04d}", "price": round(5 + (i % 1000) * 0.37, 2), "qty": 1 + i % 4,
                           "path": f"/products/{i % 500}", "campaign": ["spring", "summer", None][i % 3]},
        })
    return events


# ---------------------------------------------------------------- the API, as deployed

class ApiProcess:
    """`python -m api` (or another `command` serving the same settings) on a free port with the
    stack's settings; its log goes to the data dir as `<name>.log`."""

    def __init__(self, stack: Stack, command: list[str] | None = None, name: str = "api") -> None:
        self.stack = stack
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.command = command or [sys.executable, "-m", "api"]
        self.name = name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ApiProcess:
        env = self.stack.worker_env(self.stack.settings.task_queue)
        env.update(API_HOST="127.0.0.1", API_PORT=str(self.port), API_KEYS=API_KEY,
                   PUBLIC_BASE_URL="http://sojourn.bench")
        log_path = self.stack.data_dir / "logs" / f"{self.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(self.command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 180  # a loaded machine (load 20 on 2 cores) took over 60 s
        async with httpx.AsyncClient() as http:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {log_path}")
                try:
                    await http.get(f"{self.url}/healthz", timeout=2)  # 503 is fine: no worker runs here
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
        log.info("%s pid %s on %s", self.name, self.process.pid, self.url)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.process is not None:
            await asyncio.to_thread(terminate, self.process, 30.0)

    def cpu_seconds(self) -> float:
        """User + system CPU the API process has used so far (Linux /proc)."""
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def post_all(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, int]:
    """Post every body with `concurrency` in flight; returns (seconds, events accepted)."""
    queue = list(reversed(bodies))
    accepted = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as http:

        async def sender() -> None:
            nonlocal accepted
            while queue:
                body = queue.pop()
                response = await http.post("/v1/events", content=body)
                response.raise_for_status()
                result = response.json()
                if result["rejected"]:
                    raise RuntimeError(f"rejected: {result['rejected'][:3]}")
                accepted += result["accepted"]

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return time.perf_counter() - started, accepted


# ---------------------------------------------------------------- bare COPY

async def bare_tables(conn: asyncpg.Connection) -> None:
    for table in ("bench_events_batched", "bench_events_single"):
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.execute(f"CREATE TABLE {table} (LIKE events INCLUDING ALL)")
        await conn.execute(f"ALTER TABLE {table} ADD FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE")


async def bare_copy(conn: asyncpg.Connection, table: str, records: list[tuple], batch: int | None) -> float:
    columns = ["event_id", "contact_id", "name", "properties", "occurred_at"]
    started = time.perf_counter()
    for part in (chunks(records, batch) if batch else [records]):
        await conn.copy_records_to_table(table, records=part, columns=columns)
    return time.perf_counter() - started


def postgres_cpu_seconds(stack: Stack) -> float:
    """CPU used so far by the Postgres server and its live backends."""
    server = psutil.Process(stack.postgres.process.pid)
    total = 0.0
    for process in [server, *server.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def count(conn: asyncpg.Connection, table: str) -> int:
    return await conn.fetchval(f"SELECT count(*) FROM {table}")


def asyncpg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


# ---------------------------------------------------------------- part 1

async def ingest_part(stack: Stack, args: argparse.Namespace) -> dict:
    run = f"r{os.getpid()}"
    contacts = await add_contacts(stack.engine, f"{run}-c", args.contacts)
    events = make_events(run, args.events, contacts)
    bodies = [json.dumps({"events": part}).encode() for part in chunks(events, BATCH)]
    log.info("%d events over %d contacts in %d bodies of %d (%.1f MB)", len(events), len(contacts), len(bodies), BATCH,
             sum(map(len, bodies)) / 1e6)
    arms = ARMS
    figures: dict[str, list[float]] = {arm: [] for arm in arms}
    cpu: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}

    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        ids = {r["external_id"]: r["id"] for r in await conn.fetch(
            "SELECT id, external_id FROM contacts WHERE external_id = ANY($1::text[])", contacts)}
        records = [(e["event_id"], ids[e["contact"]], e["name"], json.dumps(e["properties"], separators=(",", ":")),
                    datetime.fromisoformat(e["occurred_at"])) for e in events]
        await bare_tables(conn)
        async with ApiProcess(stack) as api:
            apis = {"api": api}
            warm = make_events(f"{run}w", 2 * BATCH, contacts)
            for process in apis.values():
                await post_all(process.url, [json.dumps({"events": p}).encode() for p in chunks(warm, BATCH)], 1)
            await bare_copy(conn, "bench_events_single", [(f"w{i}", *r[1:]) for i, r in enumerate(records[:2 * BATCH])],
                            BATCH)
            for number in range(args.rounds):
                for arm in (arms if number % 2 == 0 else list(reversed(arms))):
                    table = "events" if arm in apis else f"bench_events_{arm.split('_')[1]}"
                    await conn.execute(f"TRUNCATE {table}")
                    await conn.execute("CHECKPOINT")
                    process = apis.get(arm)
                    cpu_before = (process.cpu_seconds() if process else 0.0, postgres_cpu_seconds(stack),
                                  time.process_time())
                    if process is not None:
                        seconds, accepted = await post_all(process.url, bodies, args.concurrency)
                        if accepted != len(events):
                            raise RuntimeError(f"{arm} accepted {accepted} of {len(events)}")
                    else:
                        seconds = await bare_copy(conn, table, records, BATCH if arm == "bare_batched" else None)
                    if (stored := await count(conn, table)) != len(events):
                        raise RuntimeError(f"{table} holds {stored} of {len(events)} after {arm}")
                    used = [after - before for after, before in zip(
                        (process.cpu_seconds() if process else 0.0, postgres_cpu_seconds(stack), time.process_time()),
                        cpu_before)]
                    figures[arm].append(len(events) / seconds)
                    cpu[arm].append({"api": used[0], "postgres": used[1], "client": used[2]})
                    log.info("round %d %-14s %8.0f events/s (%.2f s)", number + 1, arm, len(events) / seconds, seconds)
    finally:
        await conn.close()

    median = {arm: statistics.median(values) for arm, values in figures.items()}
    result = {
        "events": len(events), "contacts": len(contacts), "batch": BATCH, "concurrency": args.concurrency,
        "rounds": args.rounds, "transport": "HTTP/1.1 on loopback to `python -m api` (uvicorn) in its own process",
        "api_events_per_s": round(median["api"]),
        "bare_copy_batched_events_per_s": round(median["bare_batched"]),
        "bare_copy_single_events_per_s": round(median["bare_single"]),
        "ratio": round(median["api"] / median["bare_batched"], 3),
        "ratio_vs_single_copy": round(median["api"] / median["bare_single"], 3),
    }
    result["per_round"] = {arm: [round(v) for v in values] for arm, values in figures.items()}
    # CPU per 1,000 events, by process (median over rounds): what the machine spends on
    # each arm, whatever else runs on it. "client" is this process (HTTP client, COPY encoder).
    result["cpu_ms_per_1000_events"] = {
        arm: {part: round(statistics.median(r[part] for r in rows) / len(events) * 1e6, 1)
              for part in ("api", "postgres", "client")}
        for arm, rows in cpu.items()}
    return result


async def import_figures(stack: Stack, rows: int) -> dict:
    """`POST /v1/contacts/import` of a `rows`-row CSV (new contacts), then of the same file
    again (every row an existing, unchanged contact), streamed in 256 kB pieces."""
    run = f"i{os.getpid()}"
    lines = ["external_id,email,first_name,plan,city,visits"]
    lines += [f"{run}-{i:07d},u{i}@import.example,Name {i},{['free', 'gold', 'pro'][i % 3]},City {i % 97},{i % 40}"
              for i in range(rows)]
    body = ("\n".join(lines) + "\n").encode()

    async def pieces():
        for start in range(0, len(body), 256 * 1024):
            yield body[start:start + 256 * 1024]

    figures: dict = {"rows": rows, "bytes": len(body)}
    async with ApiProcess(stack) as api, httpx.AsyncClient(base_url=api.url, timeout=600, headers={
            "Authorization": f"Bearer {API_KEY}", "Content-Type": "text/csv"}) as http:
        for label in ("new", "unchanged"):
            started = time.perf_counter()
            response = await http.post("/v1/contacts/import", content=pieces())
            seconds = time.perf_counter() - started
            response.raise_for_status()
            result = response.json()
            expected = (rows, 0, 0) if label == "new" else (0, 0, rows)
            if (result["inserted"], result["updated"], result["unchanged"]) != expected or result["rejected"]:
                raise RuntimeError(f"import ({label}): {result}")
            figures[f"{label}_rows_per_s"] = round(rows / seconds)
            log.info("import of %d %s rows: %.2f s (%.0f rows/s)", rows, label, seconds, rows / seconds)
    return figures


# ---------------------------------------------------------------- part 2: HOOK

# Sizes of the segment part; SEGMENT_CONTACTS / SEGMENT_EVENTS in the environment make a
# smaller smoke run (the figures in docs/benchmarks.md are for the defaults).
SEGMENT_CONTACTS = int(os.environ.get("SEGMENT_CONTACTS", 1_000_000))
SEGMENT_EVENTS = int(os.environ.get("SEGMENT_EVENTS", 10_000_000))
SEGMENT_ROUNDS = 5
SKUS = ["sku-1", "sku-2", "sku-3", "sku-5", "sku-8"]

# "Lives in Taipei, bought one of these SKUs at least twice in the last 30 days, and is not
# oily-skin with weight >= 3": an attribute, an event count with a property condition in a
# window, and a negated weighted tag.
SEGMENT_FILTER = {"and": [
    {"attribute": "city", "op": "eq", "value": "Taipei"},
    {"event": "purchase", "where": [{"property": "sku", "op": "in", "value": SKUS}], "min_count": 2, "within": "30d"},
    {"not": {"tag": "oily-skin", "min_weight": 3}},
]}

# The same question as an engineer would write it by hand: the bare baseline.
HANDWRITTEN_COUNT = """
SELECT count(*) FROM contacts c
WHERE c.attributes ->> 'city' = 'Taipei'
  AND c.id IN (SELECT e.contact_id FROM events e
               WHERE e.name = 'purchase' AND e.occurred_at >= now() - interval '30 days'
                 AND e.properties ->> 'sku' = ANY($1::text[])
               GROUP BY e.contact_id HAVING count(*) >= 2)
  AND NOT EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id AND t.tag = 'oily-skin' AND t.weight >= 3)
"""


# Heavier shapes, timed in-process (compiled count, median): broad sets, anti-joins, OR.
MORE_FILTERS = {
    "active_in_taipei": {"and": [{"attribute": "city", "value": "Taipei"}, {"event": "page_view", "within": "365d"}]},
    "never_purchased": {"event": "purchase", "min_count": 0, "max_count": 0},
    "purchased_5_times": {"event": "purchase", "min_count": 5},
    "vip_or_few_views_30d": {"or": [{"tag": "vip"},
                                    {"event": "product_viewed", "min_count": 0, "max_count": 3, "within": "30d"}]},
    "not_pro_and_opened_mail_7d": {"and": [{"not": {"attribute": "plan", "value": "pro"}},
                                           {"event": "email_open", "within": "7d"}]},
}


def _browsed(category: str) -> dict:
    return {"event": "product_viewed", "where": [{"property": "category", "value": category}],
            "min_count": 2, "within": "30d"}


# Scenario 7's waterfall at this scale: demographics first, then behaviour.
WATERFALL = {
    "bench-young-taipei": {"and": [{"attribute": "age", "op": "between", "value": [18, 29]},
                                   {"attribute": "city", "value": "Taipei"}]},
    "bench-seniors": {"attribute": "age", "op": "gte", "value": 65},
    "bench-hikers": _browsed("hiking"),
    "bench-campers": _browsed("camping"),
    "bench-climbers": _browsed("climbing"),
}

_CONTACTS_SQL = """
INSERT INTO contacts (external_id, attributes, created_at, updated_at)
SELECT 'seg-' || g,
       jsonb_build_object(
         'city', (ARRAY['Taipei', 'New Taipei', 'Taichung', 'Kaohsiung', 'Tainan', 'Taoyuan', 'Hsinchu', 'Keelung',
                        'Chiayi', 'Hualien'])[1 + floor(10 * power(random(), 1.5))::int],
         'age', 18 + floor(random() * 60)::int,
         'plan', (ARRAY['free', 'basic', 'pro'])[1 + floor(random() * 3)::int],
         'newsletter', random() < 0.4),
       now() - random() * interval '730 days', now()
FROM generate_series(1, $1) g
"""
_TAGS_SQL = """
INSERT INTO contact_tags (contact_id, tag, weight, updated_at)
SELECT id, 'oily-skin', 1 + floor(random() * 5), now() FROM contacts WHERE external_id LIKE 'seg-%' AND random() < 0.3
UNION ALL
SELECT id, 'vip', 1, now() FROM contacts WHERE external_id LIKE 'seg-%' AND random() < 0.05
"""
# One year of events in arrival order (occurred_at grows with the row, as events arrive), a
# few very active contacts and a long tail (contact ~ r^2), 55% page views ... 6% purchases;
# product events carry sku (a few best sellers), category and price.
_EVENTS_SQL = """
INSERT INTO events (event_id, contact_id, name, properties, occurred_at, received_at)
SELECT 'seg-e-' || g, contact_id, name,
       CASE WHEN name IN ('product_viewed', 'add_to_cart', 'purchase')
            THEN jsonb_build_object('sku', 'sku-' || floor(200 * power(random(), 2))::int,
                                    'category', (ARRAY['hiking', 'camping', 'climbing', 'running'])[1 + floor(random() * 4)::int],
                                    'price', round((5 + random() * 195)::numeric, 2))
            ELSE jsonb_build_object('path', '/p/' || floor(random() * 1000)::int) END,
       at, at
FROM (SELECT g, $3::bigint + floor($4::bigint * power(random(), 2))::bigint AS contact_id,
             now() - interval '365 days' + (g::float8 / $5) * interval '365 days' - random() * interval '1 hour' AS at,
             random() AS r
      FROM generate_series($1::bigint, $2::bigint) g) s
CROSS JOIN LATERAL (SELECT CASE WHEN r < 0.55 THEN 'page_view' WHEN r < 0.80 THEN 'product_viewed'
                                WHEN r < 0.90 THEN 'add_to_cart' WHEN r < 0.96 THEN 'purchase'
                                WHEN r < 0.98 THEN 'email_open' ELSE 'signup' END AS name) n
"""


async def _timed(label: str, work) -> float:
    started = time.perf_counter()
    await work
    seconds = time.perf_counter() - started
    log.info("segment data: %s in %.1f s", label, seconds)
    return round(seconds, 1)


async def load_segment_data(conn: asyncpg.Connection, contacts: int, events: int) -> dict:
    """Contacts, tags and events made in Postgres with generate_series (set-based, no client rows)."""
    load: dict = {}
    await conn.execute("SELECT setseed(0.42)")
    load["contacts_s"] = await _timed(f"{contacts} contacts", conn.execute(_CONTACTS_SQL, contacts))
    first, last = await conn.fetchrow("SELECT min(id), max(id) FROM contacts WHERE external_id LIKE 'seg-%'")
    load["tags_s"] = await _timed("tags", conn.execute(_TAGS_SQL))
    # A bulk load builds the secondary indexes once at the end rather than row by row.
    secondary = await conn.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'events' AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)")
    for row in secondary:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    started = time.perf_counter()
    step = 1_000_000
    for low in range(1, events + 1, step):
        high = min(low + step - 1, events)
        await conn.execute(_EVENTS_SQL, low, high, first, last - first + 1, events)
        log.info("segment data: %d / %d events", high, events)
    load["events_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    for row in secondary:
        await conn.execute(row["indexdef"])
    load["event_indexes_s"] = round(time.perf_counter() - started, 1)
    load["event_indexes"] = [row["indexname"] for row in secondary]
    load["vacuum_analyze_s"] = await _timed("VACUUM ANALYZE", conn.execute(
        "VACUUM (ANALYZE) contacts, contact_tags, events"))
    return load


async def segment_part(stack: Stack, args: argparse.Namespace) -> dict:
    """PART 2 -- the segment count over 1,000,000 contacts and 10,000,000 events.

    Loads the data with set-based SQL (`generate_series` inside Postgres), with the indexes
    of the migrations (events' secondary indexes dropped during the load and rebuilt once),
    then VACUUM ANALYZE. Then, after one warm-up each, the median of SEGMENT_ROUNDS runs of:

    - `api_count_s`: `GET /v1/segments/{id}/count` through the real API over HTTP;
    - `compiled_count_s`: `sojourn.data.segments.count` in this process (the one compiled statement);
    - `handwritten_count_s` (bare baseline): the same question as hand-written SQL on asyncpg;
    - `more`: heavier shapes (MORE_FILTERS), compiled count in this process;
    - `waterfall_counts_s`: `GET /v1/segment-sets/{id}/counts` for scenario 7's five segments.

    The plan (EXPLAIN ANALYZE, BUFFERS) of the compiled count goes to the data dir and the log.
    """
    from sojourn.data import segments  # noqa: PLC0415 - only this part needs the compiler
    from sojourn.data.db import session_factory  # noqa: PLC0415

    figures: dict = {"contacts_added": SEGMENT_CONTACTS, "events_added": SEGMENT_EVENTS, "filter": SEGMENT_FILTER}
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        figures["load"] = await load_segment_data(conn, SEGMENT_CONTACTS, SEGMENT_EVENTS)
        figures["contacts_total"] = await count(conn, "contacts")
        figures["events_total"] = await count(conn, "events")

        async def handwritten() -> int:
            return await conn.fetchval(HANDWRITTEN_COUNT, SKUS)

        baseline_value, figures["handwritten_count_s"] = await _median_seconds(handwritten)
    finally:
        await conn.close()

    sessions = session_factory(stack.engine)

    async def compiled() -> int:
        async with sessions() as session:
            return await segments.count(session, SEGMENT_FILTER)

    value, figures["compiled_count_s"] = await _median_seconds(compiled)
    figures["more"] = {}
    for label, body in MORE_FILTERS.items():
        async def other(body=body) -> int:
            async with sessions() as session:
                return await segments.count(session, body)

        n, seconds = await _median_seconds(other, rounds=3)
        figures["more"][label] = {"count": n, "seconds": seconds}
        log.info("segment count %s: %d in %.3f s (median)", label, n, seconds["median"])
    async with sessions() as session:
        plan = await segments.explain(session, SEGMENT_FILTER, analyze=True)
    (stack.data_dir / "segment_count_plan.txt").write_text(plan + "\n")
    log.info("plan of the compiled segment count:\n%s", plan)

    async with ApiProcess(stack) as api, httpx.AsyncClient(base_url=api.url, timeout=600, headers={
            "Authorization": f"Bearer {API_KEY}"}) as http:
        created = await http.post("/v1/segments", json={"id": "bench-taipei-buyers", "name": "Taipei buyers",
                                                        "filter": SEGMENT_FILTER})
        created.raise_for_status()

        async def over_http() -> int:
            response = await http.get("/v1/segments/bench-taipei-buyers/count")
            response.raise_for_status()
            return response.json()["count"]

        api_value, figures["api_count_s"] = await _median_seconds(over_http)
        first_time = figures["api_count_s"]["first"]

        for segment_id, body in WATERFALL.items():
            (await http.post("/v1/segments", json={"id": segment_id, "name": segment_id, "filter": body})).raise_for_status()
        (await http.post("/v1/segment-sets", json={"id": "bench-visitors", "name": "Visitors",
                                                   "segments": list(WATERFALL)})).raise_for_status()

        async def waterfall() -> dict:
            response = await http.get("/v1/segment-sets/bench-visitors/counts")
            response.raise_for_status()
            return response.json()

        placed, figures["waterfall_counts_s"] = await _median_seconds(waterfall, rounds=3)
    if not (value == api_value == baseline_value):
        raise RuntimeError(f"counts differ: compiled {value}, API {api_value}, hand-written {baseline_value}")
    figures["count"] = value
    figures["waterfall"] = {**{c["segment"]: c["count"] for c in placed["segments"]}, "unplaced": placed["unplaced"]}
    figures["target_s"] = 2.0
    figures["ok"] = figures["api_count_s"]["median"] < 2.0 and first_time < 2.0
    log.info("segment count %d: API median %.3f s, compiled %.3f s, hand-written %.3f s",
             value, figures["api_count_s"]["median"], figures["compiled_count_s"]["median"],
             figures["handwritten_count_s"]["median"])
    return figures


async def _median_seconds(run, rounds: int = SEGMENT_ROUNDS) -> tuple:
    """(last result, {"first", "median", "min", "max"} seconds): one warm-up (reported as first), then `rounds`."""
    times = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        result = await run()
        times.append(time.perf_counter() - started)
    rest = times[1:]
    return result, {"first": round(times[0], 3), "median": round(statistics.median(rest), 3),
                    "min": round(min(rest), 3), "max": round(max(rest), 3)}


# ---------------------------------------------------------------- main

async def main(args: argparse.Namespace) -> None:
    result: dict = {"benchmark": "ingest", "machine": machine()}
    async with bench_stack(keep=args.keep) as stack:
        if "ingest" in args.parts:
            result["ingest"] = await ingest_part(stack, args)
            result["import"] = await import_figures(stack, args.import_rows)
        if "segment" in args.parts:
            result["segment"] = await segment_part(stack, args)
    print_result(result)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--import-rows", type=int, default=100_000, help="rows of the contact import measured")
    parser.add_argument("--parts", default="ingest,segment", help="comma-separated: ingest, segment")
    parser.add_argument("--keep", action="store_true", help="keep the data dir (logs) afterwards")
    args = parser.parse_args(argv)
    args.parts = set(args.parts.split(","))
    return args


if __name__ == "__main__":
    setup_logging()
    asyncio.run(main(parse_args()))
