"""Completed journeys per second through the real enroll path, against bare Temporal.

Sojourn: N contacts are enrolled with `sojourn.services.journeys.enroll` (the API's code path
without HTTP) in chunks of 1,000, into the journey

    send -> wait 1s -> wait_for opened (timeout 1s) -> send -> exit

run by the real worker (`journey_worker`), whose send activity delivers through
the real SMTP sink.

Bare: in the same run, on the same dev server and sink, a plain Temporal workflow
of the same shape (activity, 1s timer, signal wait with a 1s timeout, activity),
whose activity sends one message over a pooled aiosmtplib connection, started for
N ids with the same chunking and start concurrency (`bare_workflows.py`).

Each arm runs alone, after a small warm-up, with a fresh worker in its own process
(`worker_process.py`), as deployed; the enrolling "API" is this process. The N
contacts are split over `--rounds` rounds (default 2) in ABBA order (bare then
sojourn, then sojourn then bare), so that drift in the server's state and load
from other work on a shared machine fall on both arms alike.

An arm's time in a round runs from its first enroll (or start) to its last
completion, the latest close time in visibility; completion is counted with
visibility every 0.5 s, never with N concurrent `handle.result()` long polls
(they exhaust the namespace's pollers). Throughput = N / the arm's total time;
the ratio sojourn/bare is the engine's cost (target >= 0.8, with step recording on). Mail is checked in
the sink's mailbox: 2 x N per arm. CPU time per journey of each part (Temporal
server, Postgres, SMTP sink, worker, and this process: enroll plus polling) is read
from /proc over the same window; on a shared machine it is steadier than wall
time. Last line: `RESULT {json}`.

    .venv/bin/python bench/enroll.py [--contacts 2000] [--rounds 2] [--warmup 20] [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timezone

from bare_workflows import BareEnrollWorkflow, BareInput
from google.protobuf.message import Message as ProtoMessage
from sqlalchemy import func, select
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client
from worker_process import BareSender, bare_worker

from sojourn.data import db
from sojourn.data.models import Message
from sojourn.services.journeys import START_CONCURRENCY, change_status, create_journey, enroll
from worker.main import journey_worker

from common import (
    Stack,
    WorkerProcess,
    add_contacts,
    bench_stack,
    chunks,
    cpu_ms_per_run,
    cpu_snapshot,
    gated,
    last_close_time,
    machine,
    mailbox_count,
    print_result,
    setup_logging,
    wait_for_count,
)

log = logging.getLogger("bench.enroll")

LINK = "https://shop.example/spring"
TEXT = "Hello {{ first_name }}, the spring collection is here: " + LINK
HTML = '<p>Hello {{ first_name }}, <a href="' + LINK + '">see the spring collection</a>.</p>'


def journey_definition(subject_prefix: str) -> dict:
    return {
        "name": f"bench {subject_prefix}",
        "nodes": [
            {"id": "first", "type": "send", "subject": subject_prefix + " first {{ first_name }}",
             "text": TEXT, "html": HTML, "next": "pause"},
            {"id": "pause", "type": "wait", "duration": "1s", "next": "opened_first"},
            {"id": "opened_first", "type": "wait_for", "event": {"opened": "first"}, "timeout": "1s",
             "on_event": "second", "on_timeout": "second"},
            {"id": "second", "type": "send", "subject": subject_prefix + " second {{ first_name }}",
             "text": TEXT, "html": HTML, "next": "done"},
            {"id": "done", "type": "exit"},
        ],
    }


@asynccontextmanager
async def running_worker(stack: Stack, kind: str, task_queue: str, in_process: bool):
    """The worker for one arm: its own process (as deployed) or, with `in_process`, this one; yields its pid."""
    if not in_process:
        async with WorkerProcess(stack, kind, task_queue) as worker:
            yield worker.pid
        return
    async with AsyncExitStack() as exits:
        if kind == "journey":
            engine = db.create_engine(stack.database_url)  # the worker's own pool
            exits.push_async_callback(engine.dispose)
            await exits.enter_async_context(journey_worker(stack.client, engine, stack.settings, task_queue=task_queue))
        else:
            sender = BareSender(stack.settings.smtp_host, stack.settings.smtp_port, stack.settings.mail_from)
            exits.push_async_callback(sender.close)
            settings = stack.settings.model_copy(update={"task_queue": task_queue})
            await exits.enter_async_context(bare_worker(stack.client, settings, kind, sender))
        yield os.getpid()


# Histories fetched per arm to report events and bytes per run (the server's work grows with both).
HISTORY_SAMPLE = 20


async def history_per_run(client: Client, task_queue: str) -> dict:
    """Mean events and bytes of a completed run's history, over a sample; bytes as stored (after
    the codec), split into payloads (inputs, results, summaries) and the rest, and events by type."""
    events = size = payloads = 0
    by_type: dict[str, int] = {}
    sampled = 0
    async for execution in client.list_workflows(_completed(task_queue), limit=HISTORY_SAMPLE):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        sampled += 1
        events += len(history.events)
        for event in history.events:
            size += event.ByteSize()
            payloads += sum(p.ByteSize() for p in _payloads(event))
            name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()
            if event.HasField("workflow_task_timed_out_event_attributes"):  # sticky queue or start-to-close
                name += "_" + TimeoutType.Name(event.workflow_task_timed_out_event_attributes.timeout_type).removeprefix(
                    "TIMEOUT_TYPE_").lower()
            by_type[name] = by_type.get(name, 0) + 1
    if not sampled:
        return {}
    return {"events": round(events / sampled, 1), "bytes": round(size / sampled),
            "payload_bytes": round(payloads / sampled),
            "by_type": {name: round(count / sampled, 1) for name, count in sorted(by_type.items())}}


def _payloads(message: ProtoMessage) -> list[Payload]:
    """Every `Payload` inside a history event, at any depth."""
    found = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        else:
            items = list(value) if field.is_repeated else [value]
        for item in items:
            if isinstance(item, Payload):
                found.append(item)
            elif isinstance(item, ProtoMessage):
                found.extend(_payloads(item))
    return found


def _completed(task_queue: str) -> str:
    return f'TaskQueue="{task_queue}" AND ExecutionStatus="Completed"'


async def _finish(stack: Stack, task_queue: str, expected: int, started_at: float, timeout: float,
                  label: str) -> tuple[float, float]:
    """Wait until `expected` runs completed; returns (seconds to last completion, seconds as polled)."""
    polled = await wait_for_count(stack.client, _completed(task_queue), expected, timeout, label=label)
    not_completed = (await stack.client.count_workflows(
        f'TaskQueue="{task_queue}" AND ExecutionStatus!="Completed"')).count
    if not_completed:
        raise RuntimeError(f"{label}: {not_completed} runs did not complete")
    last = await last_close_time(stack.client, _completed(task_queue))
    exact = last.timestamp() - started_at if last is not None else polled - started_at
    return exact, polled - started_at


async def run_sojourn(stack: Stack, tag: str, contacts: int, warmup: int, timeout: float, in_process: bool) -> dict:
    task_queue = f"bench-sojourn-{tag}"
    journey_id, warm_journey_id = f"bench-{tag}", f"bench-{tag}-warm"
    subject = f"bench-sojourn-{tag}"
    sessions = db.session_factory(stack.engine)
    ids = await add_contacts(stack.engine, f"sojourn-{tag}", contacts)
    warm_ids = await add_contacts(stack.engine, f"sojourn-{tag}-warm", warmup)
    async with sessions() as session:
        for journey, prefix in ((journey_id, subject), (warm_journey_id, f"warm-sojourn-{tag}")):
            await create_journey(session, journey, journey_definition(prefix))
            await change_status(session, journey, "activate")

    async with running_worker(stack, "journey", task_queue, in_process) as worker_pid:
        if warmup:
            async with sessions() as session:
                await enroll(session, stack.client, task_queue, warm_journey_id, warm_ids)
            await wait_for_count(stack.client, _completed(task_queue), warmup, timeout, label="sojourn warm-up")

        log.info("sojourn %s: enrolling %d contacts in chunks of 1,000", tag, contacts)
        cpu_before = cpu_snapshot(stack, worker_pid)
        started_at = time.time()
        chunk_seconds = []
        statuses: dict[str, int] = {}
        for chunk in chunks(ids):
            began = time.perf_counter()
            async with sessions() as session:  # one session per call, as the API has per request
                _, results = await enroll(session, stack.client, task_queue, journey_id, chunk)
            chunk_seconds.append(round(time.perf_counter() - began, 2))
            for result in results:
                statuses[result.status] = statuses.get(result.status, 0) + 1
        enrolled_in = time.time() - started_at
        if statuses != {"started": contacts}:
            raise RuntimeError(f"enroll results: {statuses}")
        seconds, polled = await _finish(stack, task_queue, warmup + contacts, started_at, timeout,
                                        f"sojourn {tag} completed")
        cpu = cpu_ms_per_run(cpu_before, cpu_snapshot(stack, worker_pid), contacts)
        load = os.getloadavg()[0]
        history = await history_per_run(stack.client, task_queue)

    mail = await mailbox_count(stack.engine, subject)
    async with stack.engine.connect() as conn:
        sent = (await conn.execute(select(func.count()).select_from(Message).where(
            Message.journey_id == journey_id, Message.status == "sent"))).scalar_one()
    if sent != 2 * contacts:
        raise RuntimeError(f"sojourn {tag}: {sent} messages recorded as sent, expected {2 * contacts}")
    return {"seconds": seconds, "polled_seconds": polled, "start_seconds": enrolled_in,
            "start_chunk_seconds": chunk_seconds, "mail": mail, "load_1m": load, "cpu_ms_per_run": cpu,
            "history_per_run": history}


async def run_bare(stack: Stack, tag: str, contacts: int, warmup: int, timeout: float, in_process: bool) -> dict:
    task_queue = f"bench-bare-{tag}"
    subject = f"bench-bare-{tag}"

    async def start(item: tuple[str, int, str]) -> None:
        workflow_id, i, prefix = item
        name = f"Contact {i}"
        await stack.client.start_workflow(
            BareEnrollWorkflow.run,
            BareInput(recipient=f"bare-{tag}-{i:06d}@bench.example", subject_prefix=f"{prefix} {name}",
                      text=TEXT.replace("{{ first_name }}", name), html=HTML.replace("{{ first_name }}", name)),
            id=workflow_id, task_queue=task_queue,
        )

    async with running_worker(stack, "bare-enroll", task_queue, in_process) as worker_pid:
        if warmup:
            warm = [(f"bare/{tag}-warm/{i:06d}", i, f"warm-bare-{tag}") for i in range(warmup)]
            await gated(START_CONCURRENCY, warm, start)
            await wait_for_count(stack.client, _completed(task_queue), warmup, timeout, label="bare warm-up")

        log.info("bare %s: starting %d workflows in chunks of 1,000", tag, contacts)
        items = [(f"bare/{tag}/{i:06d}", i, subject) for i in range(contacts)]
        cpu_before = cpu_snapshot(stack, worker_pid)
        started_at = time.time()
        chunk_seconds = []
        for chunk in chunks(items):  # the same chunks and start concurrency as enroll
            began = time.perf_counter()
            await gated(START_CONCURRENCY, chunk, start)
            chunk_seconds.append(round(time.perf_counter() - began, 2))
        started_in = time.time() - started_at
        seconds, polled = await _finish(stack, task_queue, warmup + contacts, started_at, timeout,
                                        f"bare {tag} completed")
        cpu = cpu_ms_per_run(cpu_before, cpu_snapshot(stack, worker_pid), contacts)
        load = os.getloadavg()[0]
        history = await history_per_run(stack.client, task_queue)
    mail = await mailbox_count(stack.engine, subject)
    return {"seconds": seconds, "polled_seconds": polled, "start_seconds": started_in,
            "start_chunk_seconds": chunk_seconds, "mail": mail, "load_1m": load, "cpu_ms_per_run": cpu,
            "history_per_run": history}


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def main(args: argparse.Namespace) -> dict:
    n, rounds = args.contacts, args.rounds
    arms = {"sojourn": run_sojourn, "bare": run_bare}
    runs: list[dict] = []
    async with bench_stack(keep=args.keep) as stack:
        for number, size in enumerate(split(n, rounds)):
            # ABBA: the arm that went second goes first next round, so drift and background
            # load on this shared machine fall on both arms alike.
            order = ("bare", "sojourn") if number % 2 == 0 else ("sojourn", "bare")
            timeout = args.timeout or 120 + size / 5
            for arm in order:
                measured = await arms[arm](stack, f"r{number}", size, args.warmup, timeout, args.in_process)
                measured.update(arm=arm, round=number, contacts=size, per_s=round(size / measured["seconds"], 1))
                log.info("round %d %s: %d in %.1fs = %.1f/s (load %.1f), CPU ms per journey %s", number, arm, size,
                         measured["seconds"], measured["per_s"], measured["load_1m"], measured["cpu_ms_per_run"])
                runs.append(measured)

    def total(arm: str, key: str) -> float:
        return sum(r[key] for r in runs if r["arm"] == arm)

    sojourn_per_s = n / total("sojourn", "seconds")
    bare_per_s = n / total("bare", "seconds")
    mail = {arm: int(total(arm, "mail")) for arm in arms}

    def cpu(arm: str) -> dict[str, float]:
        """CPU ms per journey by component, weighted over the arm's rounds."""
        mine = [r for r in runs if r["arm"] == arm]
        parts = mine[0]["cpu_ms_per_run"].keys()
        return {part: round(sum(r["cpu_ms_per_run"][part] * r["contacts"] for r in mine) / n, 2) for part in parts}

    return {
        "benchmark": "enroll",
        "date": datetime.now(timezone.utc).date().isoformat(),
        "contacts": n,
        "sojourn_per_s": round(sojourn_per_s, 1),
        "bare_per_s": round(bare_per_s, 1),
        "ratio": round(sojourn_per_s / bare_per_s, 3),
        "target_ratio": 0.8,
        "seconds": {arm: round(total(arm, "seconds"), 2) for arm in arms},
        # CPU per journey is steadier than wall time on a shared machine: what each part costs.
        "cpu_ms_per_journey": {arm: cpu(arm) for arm in arms},
        # The server stores and serves every event and byte of it (the last round's sample).
        "history_per_run": {arm: [r for r in runs if r["arm"] == arm][-1]["history_per_run"] for arm in arms},
        "mail_delivered": {**mail, "expected_each": 2 * n},
        "mail_ok": all(count == 2 * n for count in mail.values()),
        "rounds": [{key: (round(value, 2) if isinstance(value, float) else value) for key, value in r.items()
                    if key not in ("polled_seconds", "history_per_run")} for r in runs],
        "worker": "in-process" if args.in_process else "own process",
        "warmup": args.warmup,
        "machine": machine(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=2000, help="journeys per arm (default 2,000)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured runs per arm first (default 20)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="split the contacts over this many rounds, alternating which arm goes first (default 2)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per arm before giving up")
    parser.add_argument("--in-process", action="store_true",
                        help="run each arm's worker in this process instead of its own (the default, as deployed)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    setup_logging()
    figures = asyncio.run(main(parse_args()))
    print_result(figures)
    if not figures["mail_ok"]:
        raise SystemExit("mail delivered does not match 2 x contacts")
