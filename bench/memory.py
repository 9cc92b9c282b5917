"""Worker memory per cached, sleeping journey, against a bare sleeping workflow.

A journey that starts with a long wait (`wait 30d -> send -> exit`; `--sends N`
chains N sends, for a bigger definition) is enrolled for `--runs` contacts
(default 5,000) through `sojourn.services.journeys.enroll`, in chunks of 1,000. The real worker runs in its own process (`worker_process.py --kind journey`,
which calls `journey_worker` with `max_cached_workflows` large enough to keep every
run cached; the SDK default is 1,000). We read the worker's RSS from /proc:

1. idle, once polling;
2. after a warm-up of `--warmup` runs (the sandbox's one-off imports, connection
   pools), all cached;
3. after all runs have executed their first workflow task and sleep, cached:
   visibility counts `JourneyNode="long_wait"` for each, and the SDK's
   `temporal_sticky_cache_size` metric counts them in the worker's cache.

KB per journey = (3 - 2) / runs. The bare baseline does the same with a workflow
that sleeps 30 days on a timer and then sends (`bare_workflows.BareSleepWorkflow`),
in a fresh worker process. Last line: `RESULT {json}`.

    .venv/bin/python bench/memory.py [--runs 5000] [--warmup 20] [--sends 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from bare_workflows import BareInput, BareSleepWorkflow

from sojourn.data import db
from sojourn.services.journeys import START_CONCURRENCY, change_status, create_journey, enroll

from common import (
    Stack,
    WorkerProcess,
    add_contacts,
    bench_stack,
    chunks,
    gated,
    machine,
    print_result,
    settled_rss_kb,
    setup_logging,
    wait_for_count,
)

log = logging.getLogger("bench.memory")

CACHE_SIZE_METRIC = "temporal_sticky_cache_size"
TEXT = "Hello {{ first_name }}, a month has passed."


def journey(sends: int = 1) -> dict:
    """`wait 30d`, then `sends` chained sends, then exit: more sends, a bigger definition per run."""
    nodes: list[dict] = [{"id": "long_wait", "type": "wait", "duration": "30d", "next": "send_0"}]
    for i in range(sends):
        nodes.append({
            "id": f"send_{i}", "type": "send", "subject": f"bench-memory {i} {{{{ first_name }}}}", "text": TEXT,
            "html": f'<p>Hello {{{{ first_name }}}}, message {i}: <a href="https://shop.example/{i}">shop</a>.</p>',
            "next": f"send_{i + 1}" if i + 1 < sends else "done",
        })
    nodes.append({"id": "done", "type": "exit"})
    return {"name": "bench memory", "nodes": nodes}


async def wait_until(check: Callable[[], Awaitable[float]], target: float, timeout: float, label: str) -> None:
    deadline = time.monotonic() + timeout
    last_logged = 0.0
    while (value := await check()) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label}: {value:.0f}/{target:.0f} after {timeout:.0f}s")
        if time.monotonic() - last_logged > 5:
            log.info("%s: %.0f/%.0f", label, value, target)
            last_logged = time.monotonic()
        await asyncio.sleep(0.5)


async def measure(stack: Stack, kind: str, runs: int, warmup: int, timeout: float,
                  start: Callable[[list[int]], Awaitable[None]], first_task_query: str | None) -> dict:
    """RSS of a fresh `kind` worker: idle, after `warmup` cached runs, after `runs` more."""
    task_queue = f"bench-memory-{kind}-{uuid.uuid4().hex[:8]}"
    async with WorkerProcess(stack, kind, task_queue, max_cached_workflows=2 * (runs + warmup), metrics=True) as worker:

        async def cached() -> float:
            return await worker.metric(CACHE_SIZE_METRIC)

        async def all_cached(total: int, label: str) -> None:
            if first_task_query is not None:
                await wait_for_count(stack.client, f'TaskQueue="{task_queue}" AND {first_task_query}', total,
                                     timeout, label=f"{label}: first task done (visibility)")
            await wait_until(cached, total, timeout, f"{label}: cached in the worker")

        rss_idle = await settled_rss_kb(worker.pid)
        await start(task_queue, list(range(warmup)), "warm")
        await all_cached(warmup, f"{kind} warm-up")
        rss_warm = await settled_rss_kb(worker.pid)

        log.info("%s: starting %d runs", kind, runs)
        began = time.monotonic()
        await start(task_queue, list(range(warmup, warmup + runs)), "run")
        await all_cached(warmup + runs, kind)
        seconds = time.monotonic() - began
        rss_full = await settled_rss_kb(worker.pid)
        in_cache = await cached()
    figures = {
        "rss_idle_kb": rss_idle,
        "rss_warm_kb": rss_warm,
        "rss_full_kb": rss_full,
        "cached": int(in_cache),
        "kb_per_run": round((rss_full - rss_warm) / runs, 1),
        "kb_per_run_from_idle": round((rss_full - rss_idle) / (runs + warmup), 1),
        "start_to_all_cached_seconds": round(seconds, 1),
    }
    log.info("%s: %s", kind, figures)
    return figures


async def main(args: argparse.Namespace) -> dict:
    runs, warmup = args.runs, args.warmup
    timeout = args.timeout or 120 + runs / 10
    async with bench_stack(keep=args.keep) as stack:
        ids = await add_contacts(stack.engine, "mem", runs + warmup)
        sessions = db.session_factory(stack.engine)
        async with sessions() as session:
            await create_journey(session, "bench-memory", journey(args.sends))
            await change_status(session, "bench-memory", "activate")

        async def start_journeys(task_queue: str, numbers: list[int], _: str) -> None:
            for chunk in chunks([ids[i] for i in numbers]):
                async with sessions() as session:
                    _, results = await enroll(session, stack.client, task_queue, "bench-memory", chunk)
                failed = [r for r in results if r.status != "started"]
                if failed:
                    raise RuntimeError(f"{len(failed)} enrollments did not start, e.g. {failed[0]}")

        async def start_bare(task_queue: str, numbers: list[int], prefix: str) -> None:
            async def one(i: int) -> None:
                await stack.client.start_workflow(
                    BareSleepWorkflow.run,
                    BareInput(recipient=f"{ids[i]}@bench.example", subject_prefix=f"bench-memory bare {i}",
                              text=TEXT.replace("{{ first_name }}", f"Contact {i}"), html=""),
                    id=f"bare-sleep/{task_queue}/{i}", task_queue=task_queue)

            for chunk in chunks(numbers):
                await gated(START_CONCURRENCY, chunk, one)

        sojourn = await measure(stack, "journey", runs, warmup, timeout, start_journeys, 'JourneyNode="long_wait"')
        bare = await measure(stack, "bare-sleep", runs, warmup, timeout, start_bare, None)

    return {
        "benchmark": "memory",
        "date": datetime.now(timezone.utc).date().isoformat(),
        "runs": runs,
        "journey_nodes": len(journey(args.sends)["nodes"]),
        "definition_bytes": len(json.dumps(journey(args.sends))),
        "sojourn_kb_per_journey": sojourn["kb_per_run"],
        "bare_kb_per_workflow": bare["kb_per_run"],
        "target_kb_per_journey": 100,
        "within_target": sojourn["kb_per_run"] <= 100,
        "sojourn": sojourn,
        "bare": bare,
        "warmup": warmup,
        "machine": machine(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5000, help="sleeping runs per arm (default 5,000)")
    parser.add_argument("--warmup", type=int, default=20, help="runs cached before the baseline RSS (default 20)")
    parser.add_argument("--sends", type=int, default=1,
                        help="send nodes after the wait (default 1); a run keeps its definition in memory")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per wait before giving up")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    setup_logging()
    print_result(asyncio.run(main(parse_args())))
