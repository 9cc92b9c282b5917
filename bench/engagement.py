"""Engagement requests per second: signed provider webhooks (`POST /v1/webhooks/engagement`)
and the open pixel (`GET /t/o/<token>`), against a bare FastAPI route doing the same one insert.

- Sojourn: the real API as deployed (`python -m api`, uvicorn, its own processes) on the embedded
  stack. Every request is the first open of its own message, the case a waiting journey needs
  signalled: each message belongs to a running workflow (started on a task queue no worker polls,
  so the server records each signal as a real run would receive it, and no worker competes for
  the CPU) of a journey version that waits for that open. Webhook bodies hold one `opened` event
  and are signed.
- Sojourn, no listener (`sojourn_quiet`): the same API and requests, for messages of a journey
  version that decides nothing on opens or clicks (the common case: only a `wait_for` or
  `branch` on engagement listens), so each open is stored and counted but owes no signal.
- Bare: `bench/bare_engagement_api.py`, the same uvicorn options and the same engine settings, in
  its own process; each route parses the same input and does one INSERT into a copy of
  `engagement_events` (`LIKE ... INCLUDING ALL`).
- Both arms get the same `--workers` (API_WORKERS: uvicorn processes) and `--pool-size`
  (DATABASE_POOL_SIZE per process).

Two measurements per endpoint and arm, the arms alternating order between rounds (ABBA):

- Saturated (closed loop): `--requests` requests per round with `--concurrency` in flight over
  keep-alive connections, each connection sending its next request as soon as the last is
  answered. req/s = requests / wall time: the capacity. Its latency is mostly queueing: by
  Little's law the mean is concurrency / throughput (50 in flight at 100 req/s: 0.5 s).
- Offered rate (open loop): `--open-requests` per round sent at a fixed rate whatever the
  answers do, as providers and mail clients send: `--offered-share` (0.6) of the bare arm's
  saturated req/s for that endpoint, the same rate for both arms. Latency runs from when a
  request was due, so a stall counts against every request it holds up.

ratio = Sojourn / bare saturated req/s, the worse of the two endpoints (target >= 0.5), for the
worst case (every open signalled); ratio_no_listener the same for the no-listener arm.
p99_ms = the worse p99 of Sojourn's two endpoints at the offered rate (target < 250 ms), worst
case again (p99_ms_no_listener for the other arm): the
latency a sender sees below capacity; p99_saturated_ms = the same in the closed loop, printed
too, where the latency says how many are in flight rather than how fast a request is served.
Latencies are pooled over the rounds. At the end every message must have one row, and a
sample of the runs must have received their signal.

    .venv/bin/python bench/engagement.py [--requests 1000] [--concurrency 50] [--rounds 2]
        [--open-requests 500] [--offered-share 0.6] [--workers 2] [--pool-size 40]

Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import aiohttp
from bare_engagement_api import TABLE
from ingest import ApiProcess
from sqlalchemy import func, insert, select, text
from temporalio.api.enums.v1 import EventType

from sojourn.data.models import Contact, EngagementEvent, Journey, JourneyVersion, Message
from sojourn.delivery.tokens import sign, webhook_signature

from common import (
    BENCH_DIR,
    Stack,
    add_contacts,
    bench_stack,
    cpu_seconds,
    gated,
    machine,
    print_result,
    setup_logging,
    tree_cpu_seconds,
)

log = logging.getLogger("bench.engagement")

NOBODY_POLLS = "bench-engagement-no-worker"
ARMS = ("sojourn", "sojourn_quiet", "bare")
# The journey each arm's messages belong to: one whose runs wait for the open, one whose runs
# decide nothing on engagement.
JOURNEYS = {"sojourn": "bench-engagement", "sojourn_quiet": "bench-engagement-quiet"}
DEFINITIONS = {
    "sojourn": {"name": "Waits for the open", "nodes": [
        {"id": "first", "type": "send", "subject": "Hello", "text": "Hello", "next": "opened"},
        {"id": "opened", "type": "wait_for", "event": {"opened": "first"}, "timeout": "30d",
         "on_event": "end", "on_timeout": "end"},
        {"id": "end", "type": "exit"}]},
    "sojourn_quiet": {"name": "Decides nothing on engagement", "nodes": [
        {"id": "first", "type": "send", "subject": "Hello", "text": "Hello", "next": "wait"},
        {"id": "wait", "type": "wait", "duration": "30d", "next": "end"},
        {"id": "end", "type": "exit"}]},
}
WARMUP = 50
OPEN_LOOP_CONNECTIONS = 200  # enough that the client never holds back a request that is due
ENDPOINTS = ("webhook", "pixel")
# Postgres connections the bench needs besides the APIs' and its own pool's: the SMTP sink's and
# the superuser's reserved ones.
OTHER_CONNECTIONS = 20


def signature_headers(body: bytes, secret: str) -> dict[str, str]:
    """How a provider signs a webhook body: the one place the signature format lives here."""
    return {"X-Sojourn-Signature": webhook_signature(body, secret)}


async def add_journeys(stack: Stack) -> None:
    async with stack.engine.begin() as conn:
        for arm, journey in JOURNEYS.items():
            await conn.execute(insert(Journey), [{"id": journey, "name": DEFINITIONS[arm]["name"], "status": "active"}])
            await conn.execute(insert(JourneyVersion), [{"journey_id": journey, "version": 1,
                                                         "definition": DEFINITIONS[arm]}])


async def sent_messages(stack: Stack, prefix: str, count: int, arm: str) -> list[uuid.UUID]:
    """`count` sent messages of the arm's journey; for the listening arm each of a running
    workflow that waits for its signals (the other arm's owe none, so need no run)."""
    external = await add_contacts(stack.engine, prefix, count)
    journey = JOURNEYS[arm]
    async with stack.engine.begin() as conn:
        ids = dict((await conn.execute(select(Contact.external_id, Contact.id)
                                       .where(Contact.external_id.in_(external)))).all())
        sent_at = datetime.now(timezone.utc) - timedelta(hours=1)
        rows = [{"id": uuid.uuid4(), "idempotency_key": f"bench/{ext}", "workflow_id": f"{journey}/{ext}",
                 "journey_id": journey, "journey_version": 1, "node_id": "first",
                 "contact_id": ids[ext], "recipient": f"{ext}@bench.example", "status": "sent",
                 "sent_at": sent_at, "links": []} for ext in external]
        await conn.execute(insert(Message), rows)

    async def start(row: dict) -> None:
        await stack.client.start_workflow("BenchWaitsForEngagement", id=row["workflow_id"], task_queue=NOBODY_POLLS)

    if arm == "sojourn":
        await gated(50, rows, start)
    return [row["id"] for row in rows]


def requests_for(endpoint: str, arm: str, messages: list[uuid.UUID], stack: Stack) -> list[tuple]:
    """(method, path, body, headers) per request."""
    settings = stack.settings
    out = []
    for message_id in messages:
        if endpoint == "webhook":
            body = json.dumps({"events": [{"message_id": str(message_id), "type": "opened",
                                           "timestamp": datetime.now(timezone.utc).isoformat()}]}).encode()
            headers = {"Content-Type": "application/json"}
            if arm != "bare":
                out.append(("POST", "/v1/webhooks/engagement", body,
                            {**headers, **signature_headers(body, settings.webhook_secret)}))
            else:
                out.append(("POST", "/bare/webhook", body, headers))
        elif arm != "bare":
            out.append(("GET", f"/t/o/{sign(f'o:{message_id}', settings.tracking_secret)}", None, {}))
        else:
            out.append(("GET", f"/bare/o/{message_id}", None, {}))
    return out


def load_client(url: str, connections: int) -> aiohttp.ClientSession:
    """The client that sends the load, sharing the machine's CPU with both servers, so the
    cheapest well-kept one: httpx cost 8-13 ms of CPU per request here, more than either server
    spent on it, and its one busy core capped both arms and lengthened their tails."""
    return aiohttp.ClientSession(base_url=url, connector=aiohttp.TCPConnector(limit=connections),
                                 timeout=aiohttp.ClientTimeout(total=60))


async def send(http: aiohttp.ClientSession, method: str, path: str, body: bytes | None, headers: dict) -> None:
    async with http.request(method, path, data=body, headers=headers) as response:
        answer = await response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {answer[:200]!r}")


async def hammer(url: str, requests: list[tuple], concurrency: int) -> tuple[float, list[float]]:
    """Every request with `concurrency` in flight; (wall seconds, per-request seconds)."""
    queue = list(reversed(requests))
    latencies: list[float] = []
    async with load_client(url, concurrency) as http:

        async def one_connection() -> None:
            while queue:
                request = queue.pop()
                began = time.perf_counter()
                await send(http, *request)
                latencies.append(time.perf_counter() - began)

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


async def offered(url: str, requests: list[tuple], rate: float) -> list[float]:
    """Each request sent at its own time, `rate` per second, answered or not; per-request
    seconds from when it was due (so time a request waited behind a stall counts)."""
    latencies: list[float] = []
    async with load_client(url, OPEN_LOOP_CONNECTIONS) as http:
        started = time.perf_counter()

        async def one(number: int, request: tuple) -> None:
            due = started + number / rate
            await asyncio.sleep(due - time.perf_counter())
            await send(http, *request)
            latencies.append(time.perf_counter() - due)

        await asyncio.gather(*(one(number, request) for number, request in enumerate(requests)))
    return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def signalled(stack: Stack, messages: list[uuid.UUID], sample: int, timeout: float) -> int:
    """How many of a sample of the messages' runs have received a signal (waiting up to `timeout`)."""
    async with stack.engine.connect() as conn:
        workflows = list((await conn.execute(select(Message.workflow_id).where(
            Message.id.in_(random.sample(messages, min(sample, len(messages))))))).scalars())
    deadline = time.monotonic() + timeout
    while True:
        done = 0
        for workflow_id in workflows:
            history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
            done += any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in history.events)
        if done == len(workflows) or time.monotonic() > deadline:
            return done
        await asyncio.sleep(1)


async def main(args: argparse.Namespace) -> dict:
    n, rounds, n_open = args.requests, args.rounds, args.open_requests
    # Both API processes read these (the stack's child environment starts from ours).
    os.environ.update(API_WORKERS=str(args.workers), DATABASE_POOL_SIZE=str(args.pool_size))
    per_endpoint_messages = WARMUP + (n + n_open) * rounds
    async with bench_stack(keep=args.keep) as stack:
        async with stack.engine.begin() as conn:
            await conn.execute(text(f"CREATE TABLE {TABLE} (LIKE engagement_events INCLUDING ALL)"))
            limit = int((await conn.execute(text("SHOW max_connections"))).scalar_one())
        # Pools keep what they open, and both APIs stay up through every round: past Postgres's
        # limit, a request that needs one more connection fails.
        rest = stack.engine.pool.size() + OTHER_CONNECTIONS
        if 2 * args.workers * args.pool_size + rest > limit:
            raise SystemExit(f"2 APIs x {args.workers} processes x --pool-size {args.pool_size} leaves less than "
                             f"{rest} of Postgres's {limit} connections for the rest of the bench")
        await add_journeys(stack)
        log.info("starting %d runs that wait for engagement", 2 * per_endpoint_messages)
        # The bare arm uses the listening arm's message ids (it inserts into its own table).
        messages = {(endpoint, arm): await sent_messages(stack, f"eng-{endpoint}-{arm}", per_endpoint_messages, arm)
                    for endpoint in ENDPOINTS for arm in JOURNEYS}
        for endpoint in ENDPOINTS:
            messages[(endpoint, "bare")] = messages[(endpoint, "sojourn")]
        measured: dict[tuple[str, str], dict] = {}
        async with ApiProcess(stack) as ours, ApiProcess(
                stack, [sys.executable, str(BENCH_DIR / "bare_engagement_api.py")], "bare-api") as bare:
            urls = {"sojourn": ours.url, "sojourn_quiet": ours.url, "bare": bare.url}
            pids = {"sojourn": ours.process.pid, "sojourn_quiet": ours.process.pid, "bare": bare.process.pid}
            if args.profile:  # sample the API's stacks for the whole run (collapsed stacks, flamegraph.pl format)
                profiler = subprocess.Popen(["py-spy", "record", "--pid", str(ours.process.pid), "--subprocesses",
                                             "--format", "raw",
                                             "--rate", "50", "-o", args.profile], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)

            def cpu_now(pid: int) -> tuple[float, float, float, float]:
                """CPU seconds so far: the arm's API processes, Postgres, this client, Temporal."""
                return (tree_cpu_seconds(pid), tree_cpu_seconds(stack.postgres.process.pid), cpu_seconds(os.getpid()),
                        tree_cpu_seconds(stack.temporal.process.pid))

            for endpoint in ENDPOINTS:
                for arm in ARMS:
                    await hammer(urls[arm], requests_for(endpoint, arm, messages[(endpoint, arm)][:WARMUP], stack),
                                 min(args.concurrency, WARMUP))
            for number in range(rounds):
                order = ARMS[::-1] if number % 2 == 0 else ARMS
                chunk = slice(WARMUP + number * n, WARMUP + (number + 1) * n)
                for endpoint in ENDPOINTS:
                    for arm in order:
                        work = requests_for(endpoint, arm, messages[(endpoint, arm)][chunk], stack)
                        cpu_before = cpu_now(pids[arm])
                        seconds, latencies = await hammer(urls[arm], work, args.concurrency)
                        cpu_after = cpu_now(pids[arm])
                        log.info("round %d %s %s: %.0f req/s, p99 %.0f ms (load %.1f)", number, endpoint, arm,
                                 n / seconds, percentile(latencies, 0.99) * 1000, os.getloadavg()[0])
                        entry = measured.setdefault((endpoint, arm), {"seconds": 0.0, "latencies": [], "api_cpu": 0.0,
                                                                      "postgres_cpu": 0.0, "client_cpu": 0.0,
                                                                      "temporal_cpu": 0.0})
                        entry["seconds"] += seconds
                        entry["latencies"] += latencies
                        entry["api_cpu"] += cpu_after[0] - cpu_before[0]
                        entry["postgres_cpu"] += cpu_after[1] - cpu_before[1]
                        entry["client_cpu"] += cpu_after[2] - cpu_before[2]
                        entry["temporal_cpu"] += cpu_after[3] - cpu_before[3]
            rates = {endpoint: round(args.offered_share * n * rounds / measured[(endpoint, "bare")]["seconds"], 1)
                     for endpoint in ENDPOINTS}
            open_latencies: dict[tuple[str, str], list[float]] = {}
            for number in range(rounds):
                order = ARMS[::-1] if number % 2 == 0 else ARMS
                start = WARMUP + n * rounds + number * n_open
                for endpoint in ENDPOINTS:
                    for arm in order:
                        work = requests_for(endpoint, arm, messages[(endpoint, arm)][start:start + n_open], stack)
                        latencies = await offered(urls[arm], work, rates[endpoint])
                        log.info("round %d %s %s at %.0f req/s offered: p50 %.0f ms, p99 %.0f ms (load %.1f)",
                                 number, endpoint, arm, rates[endpoint], statistics.median(latencies) * 1000,
                                 percentile(latencies, 0.99) * 1000, os.getloadavg()[0])
                        open_latencies.setdefault((endpoint, arm), []).extend(latencies)
            load = os.getloadavg()[0]
            if args.profile:
                profiler.send_signal(2)  # py-spy writes its file on SIGINT
                await asyncio.to_thread(profiler.wait, 30)
            reached = {endpoint: await signalled(stack, messages[(endpoint, "sojourn")], 20, 60) for endpoint in ENDPOINTS}
        async with stack.engine.connect() as conn:
            stored = dict((await conn.execute(select(EngagementEvent.source, func.count())
                                              .group_by(EngagementEvent.source))).all())
            quiet_owed = (await conn.execute(select(func.count()).select_from(EngagementEvent).join(Message).where(
                Message.journey_id == JOURNEYS["sojourn_quiet"], EngagementEvent.signal_due))).scalar_one()
            bare_rows = (await conn.execute(text(f"SELECT count(*) FROM {TABLE}"))).scalar_one()

    def figures(endpoint: str, arm: str) -> dict:
        entry = measured[(endpoint, arm)]
        at_rate = open_latencies[(endpoint, arm)]
        return {"req_per_s": round(n * rounds / entry["seconds"], 1),
                "p50_saturated_ms": round(statistics.median(entry["latencies"]) * 1000, 1),
                "p99_saturated_ms": round(percentile(entry["latencies"], 0.99) * 1000, 1),
                "offered_req_per_s": rates[endpoint],
                "p50_ms": round(statistics.median(at_rate) * 1000, 1),
                "p99_ms": round(percentile(at_rate, 0.99) * 1000, 1),
                # CPU per request is steadier than wall time on a shared machine: what each request costs.
                "api_cpu_ms": round(entry["api_cpu"] * 1000 / (n * rounds), 2),
                "postgres_cpu_ms": round(entry["postgres_cpu"] * 1000 / (n * rounds), 2),
                # This process sends the requests: its CPU competes with the servers'.
                "client_cpu_ms": round(entry["client_cpu"] * 1000 / (n * rounds), 2),
                # Recording each run's signal: Sojourn's cost the bare route does not have.
                "temporal_cpu_ms": round(entry["temporal_cpu"] * 1000 / (n * rounds), 2)}

    per_endpoint = {endpoint: {arm: figures(endpoint, arm) for arm in ARMS} for endpoint in ENDPOINTS}

    def ratios_of(arm: str) -> dict[str, float]:
        return {endpoint: round(per_endpoint[endpoint][arm]["req_per_s"] / per_endpoint[endpoint]["bare"]["req_per_s"], 3)
                for endpoint in ENDPOINTS}

    def worst_p99(arm: str, key: str = "p99_ms") -> float:
        return max(per_endpoint[endpoint][arm][key] for endpoint in ENDPOINTS)

    ratios, quiet_ratios = ratios_of("sojourn"), ratios_of("sojourn_quiet")
    expected = per_endpoint_messages
    return {
        "benchmark": "engagement",
        "date": datetime.now(timezone.utc).date().isoformat(),
        "ratio": min(ratios.values()),
        "p99_ms": worst_p99("sojourn"),
        "p99_saturated_ms": worst_p99("sojourn", "p99_saturated_ms"),
        "ratio_no_listener": min(quiet_ratios.values()),
        "p99_ms_no_listener": worst_p99("sojourn_quiet"),
        "target_ratio": 0.5,
        "target_p99_ms": 250,
        "ratios": ratios,
        "ratios_no_listener": quiet_ratios,
        "cpu_ratios": {endpoint: round(per_endpoint[endpoint]["bare"]["api_cpu_ms"]
                                       / per_endpoint[endpoint]["sojourn"]["api_cpu_ms"], 3) for endpoint in ENDPOINTS},
        "per_endpoint": per_endpoint,
        "requests": n, "rounds": rounds, "concurrency": args.concurrency, "open_requests": n_open,
        "offered_share": args.offered_share, "workers": args.workers, "pool_size": args.pool_size,
        "rows_ok": stored.get("webhook") == 2 * expected and stored.get("pixel") == 2 * expected
        and bare_rows == 2 * expected and quiet_owed == 0,
        "signalled_sample": reached,
        "load_1m": round(load, 2),
        "machine": machine(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per endpoint, arm and round")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternating which arm goes first")
    parser.add_argument("--open-requests", type=int, default=500,
                        help="requests per endpoint, arm and round at the offered rate")
    parser.add_argument("--offered-share", type=float, default=0.6,
                        help="the offered rate as a share of the bare arm's saturated req/s (default 0.6)")
    parser.add_argument("--workers", type=int, default=2, help="API processes per arm (API_WORKERS, default 2)")
    parser.add_argument("--pool-size", type=int, default=40,
                        help="database connections per API process (DATABASE_POOL_SIZE, default 40)")
    parser.add_argument("--profile", metavar="FILE", help="py-spy the API process into FILE (collapsed stacks)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    setup_logging()
    result = asyncio.run(main(parse_args()))
    print_result(result)
    if not result["rows_ok"]:
        raise SystemExit("stored rows do not match the requests")
