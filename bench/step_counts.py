"""What keeping the funnel's counts costs a step write, two ways, against writing no counts.

The run path writes a run's new and closed steps with one prepared upsert, executemany
(`sojourn.data.steps.write_steps`): here each run writes six times (the step it rests at, then
that step closed and the next one open), as a run through six nodes does. Three arms, on the
same embedded Postgres, alternating round by round:

- `bare`: the upsert alone, counting triggers off (what the run path cost before counts);
- `trigger`: the same upsert, counts moved by migration 0016's row triggers (what Sojourn does);
- `in_statement`: counts moved by the upsert statement itself (a data-modifying CTE that reads
  the step's old key, upserts it and moves the count from the old key to the new, in the same
  writer's shard as the trigger), triggers off.

Each arm runs `--runs` runs on `--concurrency` connections (runs of one journey entering on one
day: the counts' hottest rows). Reported: microseconds of wall time per step row, median of
`--rounds`. The worker sends the same rows in all three, so its CPU and the workflow's history do
not change with the choice; only Postgres' work does.

    .venv/bin/python bench/step_counts.py [--runs 2000] [--concurrency 8] [--rounds 5]

Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from datetime import datetime, timedelta, timezone

import asyncpg

from common import bench_stack, machine, print_result, setup_logging

log = logging.getLogger("bench.step_counts")

JOURNEY = "step-counts-bench"
NODES = ["welcome", "pause", "engaged", "offer", "buys", "end"]

_COLUMNS = "run_id, seq, journey_id, version, contact_id, node_id, node_type, run_started_at, entered_at, left_at, outcome, reason"
_VALUES = """$1::varchar, $2::int, $3::varchar, $4::int, $5::bigint, $6::varchar, $7::varchar,
    coalesce((SELECT enrolled_at FROM journey_runs WHERE run_id = $1::varchar), $8::timestamptz), $9::timestamptz,
    $10::timestamptz, $11::varchar, $12::text"""
_CHANGED = "left_at = excluded.left_at, outcome = excluded.outcome, reason = excluded.reason, run_started_at = excluded.run_started_at"
_DIFFERS = """(s.left_at, s.outcome, s.reason, s.run_started_at)
    IS DISTINCT FROM (excluded.left_at, excluded.outcome, excluded.reason, excluded.run_started_at)"""

UPSERT = f"""INSERT INTO journey_steps AS s ({_COLUMNS}) VALUES ({_VALUES})
ON CONFLICT (run_id, seq) DO UPDATE SET {_CHANGED} WHERE {_DIFFERS}"""

_KEY = """{0}.journey_id, {0}.version, ({0}.run_started_at AT TIME ZONE 'UTC')::date, {0}.node_id, {0}.outcome,
    CASE WHEN {0}.outcome = 'skipped' THEN {0}.reason END, {0}.left_at IS NULL"""
# Every sub-statement sees the snapshot from before the statement: `before` is the step's old row.
IN_STATEMENT = f"""WITH before AS (SELECT * FROM journey_steps WHERE run_id = $1::varchar AND seq = $2::int),
written AS (
    INSERT INTO journey_steps AS s ({_COLUMNS}) VALUES ({_VALUES})
    ON CONFLICT (run_id, seq) DO UPDATE SET {_CHANGED} WHERE {_DIFFERS}
    RETURNING s.*),
moves AS (SELECT {_KEY.format('written')}, 1 AS d FROM written
          UNION ALL SELECT {_KEY.format('before')}, -1 FROM before WHERE EXISTS (SELECT FROM written))
INSERT INTO funnel_step_counts AS c SELECT moves.*, pg_backend_pid() % 8
FROM moves ON CONFLICT ON CONSTRAINT ux_funnel_step_counts DO UPDATE SET n = c.n + excluded.n"""


def writes(run: int, contact: int, day: datetime) -> list[list[tuple]]:
    """The run's six writes: each closes the step it rested at and opens the next."""
    run_id, at = f"scb-{run}", day + timedelta(seconds=run)
    def step(seq: int, closed: bool) -> tuple:
        entered = at + timedelta(minutes=seq)
        return (run_id, seq, JOURNEY, 1, contact, NODES[seq - 1], "wait", at, entered,
                entered + timedelta(seconds=30) if closed else None, "sent" if closed else None, None)
    return [[step(1, False)]] + [[step(seq - 1, True), step(seq, False)] for seq in range(2, len(NODES) + 1)]


async def arm(pool: asyncpg.Pool, statement: str, runs: range, contact: int, concurrency: int) -> float:
    day = datetime(2026, 3, 1, tzinfo=timezone.utc)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for run in runs:
        queue.put_nowait(run)
    rows = 0

    async def writer() -> None:
        nonlocal rows
        async with pool.acquire() as conn:
            while not queue.empty():
                for batch in writes(queue.get_nowait(), contact, day):
                    await conn.executemany(statement, batch)
                    rows += len(batch)

    began = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(concurrency)))
    return (time.perf_counter() - began) / rows * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    setup_logging()
    async with bench_stack() as stack:
        url = stack.database_url.replace("postgresql+asyncpg", "postgresql")
        pool = await asyncpg.create_pool(url, min_size=args.concurrency, max_size=args.concurrency)
        contact = await pool.fetchval("INSERT INTO contacts (external_id) VALUES ('scb') RETURNING id")
        await pool.execute("INSERT INTO journeys (id, name, status, latest_version) VALUES ($1, 'bench', 'active', 1)", JOURNEY)
        arms = {"bare": (UPSERT, False), "trigger": (UPSERT, True), "in_statement": (IN_STATEMENT, False)}
        figures: dict[str, list[float]] = {name: [] for name in arms}
        next_run = 0
        for round_ in range(args.rounds + 1):  # the first round warms up
            for name, (statement, triggers) in arms.items():
                await pool.execute(f"ALTER TABLE journey_steps {'ENABLE' if triggers else 'DISABLE'} TRIGGER USER")
                per_row = await arm(pool, statement, range(next_run, next_run + args.runs), contact, args.concurrency)
                next_run += args.runs
                if round_:
                    figures[name].append(per_row)
                log.info("round %d %s: %.0f µs per step row", round_, name, per_row)
        await pool.close()
    medians = {name: round(statistics.median(values), 1) for name, values in figures.items()}
    print_result({
        "us_per_row": medians,
        "trigger_over_bare": round(medians["trigger"] / medians["bare"], 2),
        "in_statement_over_bare": round(medians["in_statement"] / medians["bare"], 2),
        "rounds": {name: [round(v, 1) for v in values] for name, values in figures.items()},
        "runs": args.runs, "concurrency": args.concurrency, "machine": machine(),
    })


if __name__ == "__main__":
    asyncio.run(main())
