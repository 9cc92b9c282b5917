"""Audience-scale playbooks. Part implemented so far: the nightly tagging run.

Tagging: 1,000,000 contacts and 5,000,000 events are made inside Postgres (the same
generator as bench/ingest.py's segment part: a year of events, a long tail of activity,
6% purchases with a skewed sku). One rule, "bought one of the two best-selling skus", weight
= the count of those purchases, is run for one day through the real activity
(`activities.tagging.TaggingActivities.run_tag_rules`, ranges of 50,000 contact ids), then run
again for the same day (which must change nothing). Baseline, in the same run: one hand-written
statement computing the same tags for all contacts at once into a table shaped like
`contact_tags`. Figures: seconds of the first run, of the re-run, and of the baseline; the
tags written must equal the baseline's.

Not implemented yet: the promotion part (100,000 contacts enrolled and mailed against a bare
aiosmtplib loop), which the issue asks for in this same file.

    .venv/bin/python bench/audience.py [--contacts 1000000] [--events 5000000]

Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from datetime import datetime, timedelta, timezone

import asyncpg
from temporalio.testing import ActivityEnvironment

from common import bench_stack, machine, print_result, setup_logging
from ingest import asyncpg_dsn, load_segment_data
from sojourn.contracts import TaggingRequest

log = logging.getLogger("bench.audience")

SKUS = ["sku-0", "sku-1"]
RULE = {"tag": "frequent-buyer",
        "filter": {"event": "purchase", "where": [{"property": "sku", "op": "in", "value": SKUS}]},
        "weight": {"kind": "count", "event": "purchase", "where": [{"property": "sku", "op": "in", "value": SKUS}]}}
BASELINE = """
INSERT INTO bench_tags (contact_id, tag, weight, source, updated_at)
SELECT contact_id, 'frequent-buyer', count(*), 'bare', now() FROM events
WHERE name = 'purchase' AND properties ->> 'sku' = ANY($1::text[]) AND occurred_at < $2
GROUP BY contact_id
"""


async def tagging_part(contacts: int, events: int) -> dict:
    from activities.tagging import TaggingActivities  # noqa: PLC0415 - after the stack exists

    async with bench_stack() as stack:
        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
        try:
            load = await load_segment_data(conn, contacts, events)
            await conn.execute("CREATE TABLE bench_tags (LIKE contact_tags INCLUDING ALL)")
            await conn.execute("INSERT INTO tag_rules (id, tag, filter, weight) VALUES ($1, $2, $3::jsonb, $4::jsonb)",
                               "frequent", RULE["tag"], json.dumps(RULE["filter"]),
                               json.dumps(RULE["weight"]))
            day = datetime.now(timezone.utc).date().isoformat()
            as_of = datetime.fromisoformat(day).replace(tzinfo=timezone.utc) + timedelta(days=1)

            started = time.perf_counter()
            await conn.execute(BASELINE, SKUS, as_of)
            bare_s = time.perf_counter() - started
            bare_rows = await conn.fetchval("SELECT count(*) FROM bench_tags")
            log.info("baseline: %d tags in %.1f s", bare_rows, bare_s)

            activities = TaggingActivities(stack.engine, "UTC")
            env = ActivityEnvironment()
            started = time.perf_counter()
            [first] = await env.run(activities.run_tag_rules, TaggingRequest(day=day))
            first_s = time.perf_counter() - started
            log.info("tagging run: %s in %.1f s", first, first_s)
            started = time.perf_counter()
            [again] = await env.run(activities.run_tag_rules, TaggingRequest(day=day))
            again_s = time.perf_counter() - started
            log.info("re-run: %s in %.1f s", again, again_s)
            same = await conn.fetchval("""
                SELECT count(*) FROM contact_tags t JOIN bench_tags b USING (contact_id, tag)
                WHERE t.source = 'rule:frequent' AND t.weight = b.weight""")
        finally:
            await conn.close()
    return {"contacts": contacts, "events": events, "load": load, "rule": RULE,
            "first_run_s": round(first_s, 2), "rerun_s": round(again_s, 2), "bare_single_statement_s": round(bare_s, 2),
            "ratio_bare_over_first_run": round(bare_s / first_s, 3),
            "tagged": first.tagged, "changed_first": first.changed, "changed_rerun": again.changed,
            "bare_tags": bare_rows, "tags_equal_to_bare": same == bare_rows == first.tagged}


async def main(args: argparse.Namespace) -> dict:
    return {"benchmark": "audience", "date": datetime.now(timezone.utc).date().isoformat(),
            "tagging": await tagging_part(args.contacts, args.events),
            "promotion": "not implemented yet", "machine": machine()}


if __name__ == "__main__":
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    print_result(asyncio.run(main(parser.parse_args())))
