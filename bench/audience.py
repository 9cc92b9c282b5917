"""Audience-scale playbooks: a promotion to a whole segment, and the nightly tagging run.

Promotion: N contacts (100,000 by default) in one segment; a journey that is a single email
send (tracked links, unsubscribe headers), enrolled by an `EnrollmentWorkflow` as the API or a
schedule would start it, on the journey worker in its own process. The enrollment takes the
batched single-send path (no workflow per contact). Figures: seconds until the enrollment
completed, seconds until the SMTP sink holds every email, messages per second. Baseline, in the
same run and on the same sink: a bare aiosmtplib loop sending the same messages (same subject,
text and HTML, one per contact) over the same number of connections (SMTP_CONNECTIONS, 4),
measured before and after ours (the mean of the two is the bare rate).

Tagging: 1,000,000 contacts and 5,000,000 events are made inside Postgres (the same
generator as bench/ingest.py's segment part: a year of events, a long tail of activity,
6% purchases with a skewed sku). One rule, "bought one of the two best-selling skus", weight
= the count of those purchases, is run for one day through the real activity
(`activities.tagging.TaggingActivities.run_tag_rules`, ranges of 50,000 contact ids), then run
again for the same day (which must change nothing). Baseline, in the same run: one hand-written
statement computing the same tags for all contacts at once into a table shaped like
`contact_tags`. Figures: seconds of the first run, of the re-run, and of the baseline; the
tags written must equal the baseline's.

    .venv/bin/python bench/audience.py [--parts promotion,tagging] [--audience 100000]
        [--contacts 1000000] [--events 5000000]

Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid
from datetime import datetime, timedelta, timezone
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate

import aiosmtplib
import asyncpg
from ingest import asyncpg_dsn, load_segment_data
from sqlalchemy import func, select
from temporalio.testing import ActivityEnvironment

from sojourn.contracts.enrollment import EnrollmentInput, EnrollmentProgress
from sojourn.contracts.tagging import TaggingRequest
from sojourn.data.db import session_factory
from sojourn.data.models import JourneyRun, Segment

from common import (
    WorkerProcess,
    add_contacts,
    bench_stack,
    cpu_ms_per_run,
    cpu_snapshot,
    machine,
    mailbox_count,
    print_result,
    setup_logging,
)

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
    from sojourn.services.tagging import Tagging  # noqa: PLC0415

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

            activities = TaggingActivities(Tagging(stack.engine, "UTC"))
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


SUBJECT = "Member day: double points"
TEXT = "Hi {name}, double points on everything today. https://shop.example/member-day"
HTML = ('<html><body><p>Hi {name},</p><p>Double points on everything today.</p>'
        '<p><a href="https://shop.example/member-day">Shop now</a></p></body></html>')
PROMOTION = {"name": "Member day", "nodes": [
    {"id": "promo", "type": "send", "subject": SUBJECT, "text": TEXT.format(name="{{ first_name }}"),
     "html": HTML.format(name="{{ first_name }}"), "next": "end"},
    {"id": "end", "type": "exit"}]}


def bare_message(external_id: str, first_name: str, settings) -> MIMEMultipart:
    email = MIMEMultipart("alternative")
    email.attach(MIMEText(TEXT.format(name=first_name), "plain", "us-ascii"))
    email.attach(MIMEText(HTML.format(name=first_name), "html", "us-ascii"))
    email["From"] = settings.mail_from
    email["To"] = f"{external_id}@bench.example"
    email["Subject"] = SUBJECT
    email["Message-ID"] = f"<{uuid.uuid4()}@bench.bare>"
    email["Date"] = formatdate(localtime=False)
    return email


async def bare_loop(settings, contacts: list[tuple[str, str]], connections: int) -> float:
    """Every message over `connections` aiosmtplib connections; seconds until the sink holds them all."""
    queue: asyncio.Queue = asyncio.Queue()
    for contact in contacts:
        queue.put_nowait(contact)

    async def connection() -> None:
        client = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port, timeout=30)
        await client.connect()
        try:
            while not queue.empty():
                external_id, first_name = queue.get_nowait()
                await client.send_message(bare_message(external_id, first_name, settings))
        finally:
            await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return time.perf_counter() - started


async def wait_for_mail(engine, subject: str, before: int, target: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_logged = 0.0
    while (count := await mailbox_count(engine, subject) - before) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count}/{target} emails after {timeout:.0f}s")
        if time.monotonic() - last_logged > 10:
            log.info("delivered %d/%d", count, target)
            last_logged = time.monotonic()
        await asyncio.sleep(1.0)


async def promotion_part(audience: int, page_size: int) -> dict:
    from sojourn.services.journeys import change_status, create_journey  # noqa: PLC0415 - after the stack exists

    async with bench_stack() as stack:
        settings = stack.settings
        ids = await add_contacts(stack.engine, "promo", audience)
        contacts = [(ext, f"Contact {i}") for i, ext in enumerate(ids)]
        sessions = session_factory(stack.engine)
        async with sessions() as session:
            session.add(Segment(id="everyone", name="everyone", filter={"attribute": "email", "op": "exists"}))
            await session.commit()
            await create_journey(session, "member-day", PROMOTION)
            await change_status(session, "member-day", "activate")
        connections = settings.smtp_connections

        async def bare(label: str) -> float:
            before = await mailbox_count(stack.engine, SUBJECT)
            seconds = await bare_loop(settings, contacts, connections)
            await wait_for_mail(stack.engine, SUBJECT, before, audience, timeout=600)
            log.info("bare loop (%s): %d emails in %.1f s = %.0f/s", label, audience, seconds, audience / seconds)
            return seconds

        bare_first = await bare("before")
        async with WorkerProcess(stack, "journey", settings.task_queue) as worker:
            before_mail = await mailbox_count(stack.engine, SUBJECT)
            cpu_before = cpu_snapshot(stack, worker.pid)
            started = time.perf_counter()
            handle = await stack.client.start_workflow(
                "EnrollmentWorkflow", EnrollmentInput(journey_id="member-day", segment_id="everyone",
                                                      enrollment_id="bench", task_queue=settings.task_queue,
                                                      page_size=page_size),
                id="enrollment/member-day/bench", task_queue=settings.task_queue, result_type=EnrollmentProgress)
            delivered = asyncio.create_task(wait_for_mail(stack.engine, SUBJECT, before_mail, audience, timeout=3600))
            progress = await handle.result()
            enrolled_s = time.perf_counter() - started
            await delivered
            delivered_s = time.perf_counter() - started
            cpu_ms = cpu_ms_per_run(cpu_before, cpu_snapshot(stack, worker.pid), audience)
        log.info("sojourn: enrollment %s in %.1f s, every email in %.1f s", progress, enrolled_s, delivered_s)
        bare_second = await bare("after")
        async with stack.engine.connect() as conn:
            runs = (await conn.execute(select(func.count()).select_from(JourneyRun)
                                       .where(JourneyRun.batch.is_not(None)))).scalar_one()
        workflows = (await stack.client.count_workflows('WorkflowType = "JourneyWorkflow"')).count

    bare_rate = audience / ((bare_first + bare_second) / 2)
    rate = audience / delivered_s
    return {"audience": audience, "page_size": page_size, "smtp_connections": connections,
            "mode": progress.mode, "sent": progress.sent, "skipped": progress.skipped, "held": progress.held,
            "failed": progress.failed, "batched_runs_recorded": runs, "journey_workflows": workflows,
            "enroll_s": round(enrolled_s, 1), "deliver_all_s": round(delivered_s, 1),
            "msgs_per_s": round(rate, 1), "bare_s": [round(bare_first, 1), round(bare_second, 1)],
            "bare_msgs_per_s": round(bare_rate, 1), "ratio": round(rate / bare_rate, 3),
            "cpu_ms_per_message": cpu_ms}


async def main(args: argparse.Namespace) -> dict:
    figures = {"benchmark": "audience", "date": datetime.now(timezone.utc).date().isoformat()}
    parts = args.parts.split(",")
    if "promotion" in parts:
        figures["promotion"] = await promotion_part(args.audience, args.page_size)
    if "tagging" in parts:
        figures["tagging"] = await tagging_part(args.contacts, args.events)
    return {**figures, "machine": machine()}


if __name__ == "__main__":
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="promotion,tagging")
    parser.add_argument("--audience", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    print_result(asyncio.run(main(parser.parse_args())))
