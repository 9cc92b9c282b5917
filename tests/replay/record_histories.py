"""Record histories of representative journey runs for the replay test.

Run after a deliberate, patched change to the interpreter, never to paper over a
replay failure:  .venv/bin/python tests/replay/record_histories.py [--overwrite] [--only-summarized]
    [--only-nightly]
It starts its own embedded Postgres, Temporal dev server, SMTP sink and a local
Twilio stand-in. Histories already recorded are kept unless --overwrite is given:
they stand for runs that older code started, which the current code must still replay.
"""

from __future__ import annotations

import asyncio
import os
import sys
import sysconfig
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.api.sdk.v1 import WorkflowMetadata  # noqa: E402
from temporalio.client import WorkflowExecutionStatus  # noqa: E402

from api.app import create_app  # noqa: E402
from sojourn.contracts import search_attributes
from sojourn.contracts.models import models_workflow_id  # noqa: E402
from sojourn.contracts.tagging import TaggingRequest  # noqa: E402
from sojourn.data import db  # noqa: E402
from sojourn.data.tag_rules import day_that_ended  # noqa: E402
from sojourn.dev.postgres import EmbeddedPostgres, free_port  # noqa: E402
from sojourn.dev.smtp_sink import SmtpSink  # noqa: E402
from sojourn.settings import Settings  # noqa: E402
from worker.main import journey_worker  # noqa: E402

from helpers import (  # noqa: E402
    add_contact,
    advance,
    create_active_journey,
    enroll,
    mothers_day,
    post_webhook,
    put_contact,
    tracking_path,
    wait_for_mail,
    zone_at,
)
from providers import FakeTwilio, Reply  # noqa: E402

OUT = Path(__file__).parent / "histories"


def click_or_nudge() -> dict:
    return {"name": "Click or nudge", "nodes": [
        {"id": "offer", "type": "send", "subject": "Offer", "html": '<a href="https://shop.example/a">Shop</a>',
         "next": "clicked"},
        {"id": "clicked", "type": "wait_for", "event": {"clicked": "offer"}, "timeout": "3d",
         "on_event": "thanks", "on_timeout": "nudge"},
        {"id": "thanks", "type": "send", "subject": "Thanks", "text": "ok", "next": "end"},
        {"id": "nudge", "type": "send", "subject": "Still interested?", "text": "hm", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


def treatment_follow_up(tag: str) -> dict:
    return {"name": "Follow-up", "entry": {"event": f"treated-{tag}"}, "exit_on": [{"event": f"booked-{tag}"}],
            "goal": {"event": f"reviewed-{tag}", "exit": False}, "nodes": [
        {"id": "soon", "type": "wait", "duration": "2h", "relative_to": "event", "next": "who"},
        {"id": "who", "type": "branch", "cases": [
            {"when": {"attribute": "tier", "value": "gold"}, "then": "gold"},
            {"when": {"event": f"treated-{tag}", "min_count": 1}, "then": "care"}], "default": "end"},
        {"id": "gold", "type": "send", "subject": "Gold care", "text": "{{ event.name }}", "next": "booked"},
        {"id": "care", "type": "send", "subject": "Care", "text": "{{ event.name }}", "next": "booked"},
        {"id": "booked", "type": "wait_for", "event": {"event": f"booked-{tag}"}, "timeout": "7d",
         "on_event": "end", "on_timeout": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def record_event_runs(api, engine, env, settings, tag: str) -> dict[str, str]:
    await create_active_journey(api, f"fu-{tag}", treatment_follow_up(tag))
    for name, tier in (("gold", "gold"), ("plain", None)):
        await api.put(f"/v1/contacts/{name}-{tag}", json={"email": f"{name}-{tag}@example.com",
                                                          "attributes": {"tier": tier} if tier else {}})
    now = datetime.now(timezone.utc).isoformat()
    await api.post("/v1/events", json={"events": [
        {"contact": f"{n}-{tag}", "name": f"treated-{tag}", "event_id": f"t-{n}-{tag}", "occurred_at": now}
        for n in ("gold", "plain")]})
    runs = {n: f"journey/fu-{tag}/{n}-{tag}" for n in ("gold", "plain")}
    await asyncio.sleep(1)
    for run in runs.values():
        await advance(env, run, timedelta(hours=2, minutes=1))
    for n in ("gold", "plain"):
        await wait_for_mail(engine, f"{n}-{tag}@example.com")
    await api.post("/v1/events", json={"events": [
        {"contact": f"plain-{tag}", "name": f"reviewed-{tag}", "event_id": f"r-{tag}", "occurred_at": now},
        {"contact": f"gold-{tag}", "name": f"booked-{tag}", "event_id": f"b-{tag}", "occurred_at": now}]})
    await advance(env, runs["plain"], timedelta(days=7, minutes=1))
    return {"follow_up_gold_exits": runs["gold"], "follow_up_plain_converts": runs["plain"]}


async def record_late_event_run(api, engine, env, tag: str) -> dict[str, str]:
    """A treatment event 7.5 days late: the 2-hour aftercare is skipped, the 7-day follow-up sent."""
    await create_active_journey(api, f"late-{tag}", {"name": "Aftercare", "entry": {"event": f"healed-{tag}"},
                                                     "nodes": [
        {"id": "two_hours", "type": "wait", "duration": "2h", "relative_to": "event", "next": "aftercare"},
        {"id": "aftercare", "type": "send", "subject": "Aftercare", "text": "ok", "next": "seven_days"},
        {"id": "seven_days", "type": "wait", "duration": "7d", "relative_to": "event", "next": "follow_up"},
        {"id": "follow_up", "type": "send", "subject": "Follow-up", "text": "ok", "next": "end"},
        {"id": "end", "type": "exit"}]})
    await put_contact(api, f"late-{tag}", email=f"late-{tag}@example.com")
    occurred = (datetime.now(timezone.utc) - timedelta(days=7, hours=12)).isoformat()
    await api.post("/v1/events", json={"events": [
        {"contact": f"late-{tag}", "name": f"healed-{tag}", "event_id": f"h-{tag}", "occurred_at": occurred}]})
    await wait_for_mail(engine, f"late-{tag}@example.com")
    return {"event_late_skips_aftercare": f"journey/late-{tag}/late-{tag}"}


def text_or_mail() -> dict:
    return {"name": "Text or mail", "nodes": [
        {"id": "promo", "type": "send", "channel": ["sms", "email"], "sms": {"text": "Sale, {{ first_name }}"},
         "subject": "Sale", "text": "Sale on", "next": "pause"},
        {"id": "pause", "type": "wait", "duration": "1d", "next": "code"},
        {"id": "code", "type": "send", "channel": "sms", "sms": {"text": "Code 1234"}, "transactional": True,
         "next": "end", "on_failure": "mail_code"},
        {"id": "mail_code", "type": "send", "subject": "Your code", "text": "1234", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def record_channel_runs(api, engine, env, twilio: FakeTwilio, tag: str) -> dict[str, str]:
    """Fallback to email (no SMS opt-in), a transactional SMS refused by the provider, on_failure."""
    await create_active_journey(api, f"tm-{tag}", text_or_mail())
    await put_contact(api, f"texter-{tag}", phone="+12015559999", email=f"texter-{tag}@example.com",
                      first_name="Tex", consent={"sms": "subscribed"})
    await put_contact(api, f"mailer-{tag}", phone="+12015558888", email=f"mailer-{tag}@example.com")
    runs = {r["contact"].rsplit("-", 1)[0]: r["workflow_id"]
            for r in await enroll(api, f"tm-{tag}", f"texter-{tag}", f"mailer-{tag}")}
    await wait_for_mail(engine, f"mailer-{tag}@example.com")
    twilio.script.append(Reply(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"}))
    await advance(env, runs["texter"], timedelta(days=1, minutes=1))
    await advance(env, runs["mailer"], timedelta(days=1, minutes=1))
    return {"channels_text_refused_then_mail": runs["texter"], "channels_mail_fallback": runs["mailer"]}


async def record_window_runs(api, engine, env, tag: str) -> dict[str, str]:
    """A wait until 09:00 local, then a send deferred by the journey's quiet hours."""
    await create_active_journey(api, f"qw-{tag}", {"name": "Quiet window", "time_zone": "Asia/Taipei",
                                                   "quiet_hours": {"start": "00:00", "end": "23:59"}, "nodes": [
        {"id": "nine", "type": "wait", "at": "09:00", "next": "promo"},
        {"id": "promo", "type": "send", "subject": "Late", "text": "ok", "next": "end"},
        {"id": "end", "type": "exit"}]})
    await put_contact(api, f"night-{tag}", email=f"night-{tag}@example.com", time_zone="Europe/London")
    [run] = [r["workflow_id"] for r in await enroll(api, f"qw-{tag}", f"night-{tag}")]
    handle = env.client.get_workflow_handle(run)
    for _ in range(3):  # to 09:00, then to the end of the quiet hours
        await asyncio.sleep(1)
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            break
        await advance(env, run, timedelta(days=1))
    await wait_for_mail(engine, f"night-{tag}@example.com")
    return {"windows_wait_at_then_quiet_hours": run}


async def record_enrollment_run(api, engine, env, tag: str) -> dict[str, str]:
    """A segment of three contacts enrolled two at a time."""
    for n in range(3):
        await put_contact(api, f"seg{n}-{tag}", email=f"seg{n}-{tag}@example.com", attributes={"batch": tag})
    await api.post("/v1/segments", json={"id": f"seg-{tag}", "name": "seg", "filter": {"attribute": "batch",
                                                                                        "value": tag}})
    await create_active_journey(api, f"so-{tag}", {"name": "Store opening", "nodes": [
        {"id": "hello", "type": "send", "subject": "Open", "text": "ok", "next": "end"}, {"id": "end", "type": "exit"}]})
    started = await api.post(f"/v1/journeys/so-{tag}/segment-enrollments",
                             json={"segment": f"seg-{tag}", "enrollment_id": "opening", "page_size": 2})
    workflow_id = started.json()["workflow_id"]
    await env.client.get_workflow_handle(workflow_id).result()
    return {"enrollment_segment_in_pages": workflow_id}


async def record_contacts_enrollment_run(api, engine, env, tag: str) -> dict[str, str]:
    """A list of contacts accepted under an enrollment id (202): the runs started in chunks."""
    contacts = [f"list{n}-{tag}" for n in range(3)]
    for contact in contacts:
        await put_contact(api, contact, email=f"{contact}@example.com")
    await create_active_journey(api, f"cl-{tag}", {"name": "Listed", "nodes": [
        {"id": "hello", "type": "send", "subject": "Listed", "text": "ok", "next": "end"}, {"id": "end", "type": "exit"}]})
    accepted = await api.post(f"/v1/journeys/cl-{tag}/enrollments", json={"contacts": contacts, "enrollment_id": "list"})
    assert accepted.status_code == 202, accepted.text
    workflow_id = f"contacts-enrollment/cl-{tag}/list"
    await env.client.get_workflow_handle(workflow_id).result()
    return {"enrollment_contact_list": workflow_id}


async def record_batch_runs(api, engine, env, tag: str) -> dict[str, str]:
    """A single-send journey enrolled in batches: one contact's message sent from the page, the
    other's held by quiet hours (it is 02:00 where they live) and handed to a run that sleeps."""
    await put_contact(api, f"bday-{tag}", email=f"bday-{tag}@example.com", time_zone=zone_at(12),
                      attributes={"bs": tag})
    await put_contact(api, f"bnight-{tag}", email=f"bnight-{tag}@example.com", time_zone=zone_at(2),
                      attributes={"bs": tag})
    await api.post("/v1/segments", json={"id": f"bs-{tag}", "name": "bs", "filter": {"attribute": "bs", "value": tag}})
    await create_active_journey(api, f"bs-{tag}", {"name": "Batched", "quiet_hours": {"start": "22:00", "end": "08:00"},
                                                   "nodes": [
        {"id": "promo", "type": "send", "subject": "Batched", "text": "ok", "next": "end"},
        {"id": "end", "type": "exit"}]})
    started = await api.post(f"/v1/journeys/bs-{tag}/segment-enrollments",
                             json={"segment": f"bs-{tag}", "enrollment_id": "weekly"})
    enrollment = started.json()["workflow_id"]
    progress = await env.client.get_workflow_handle(enrollment).result()
    assert (progress["mode"], progress["sent"], progress["held"]) == ("batch", 1, 1), progress
    run = f"journey/bs-{tag}/bnight-{tag}/weekly"
    await asyncio.sleep(1)
    await advance(env, run, timedelta(hours=7))
    await wait_for_mail(engine, f"bnight-{tag}@example.com")
    return {"batched_enrollment": enrollment, "batched_send_held_by_quiet_hours": run}


async def record_tag_run(api, engine, env, tag: str) -> dict[str, str]:
    await put_contact(api, f"tagged-{tag}", email=f"tagged-{tag}@example.com")
    await create_active_journey(api, f"tg-{tag}", {"name": "Tagging", "nodes": [
        {"id": "mark", "type": "tag", "tag": "oily-skin", "weight": 2, "next": "bump"},
        {"id": "bump", "type": "tag", "tag": "oily-skin", "action": "increment", "next": "strong"},
        {"id": "strong", "type": "branch", "cases": [{"when": {"tag": "oily-skin", "min_weight": 3}, "then": "offer"}],
         "default": "end"},
        {"id": "offer", "type": "send", "subject": "Picks", "text": "ok", "next": "end"},
        {"id": "end", "type": "exit"}]})
    [run] = [r["workflow_id"] for r in await enroll(api, f"tg-{tag}", f"tagged-{tag}")]
    await env.client.get_workflow_handle(run).result()
    return {"tags_add_increment_branch": run}


async def record_split_run(api, engine, env, tag: str) -> dict[str, str]:
    await put_contact(api, f"split-{tag}", email=f"split-{tag}@example.com")
    await create_active_journey(api, f"sp-{tag}", {"name": "Subject test", "holdout": {"percent": 5}, "nodes": [
        {"id": "subject", "type": "split", "arms": [{"id": "plain", "next": "plain"},
                                                    {"id": "bold", "weight": 2, "next": "bold"}]},
        {"id": "plain", "type": "send", "subject": "Picks", "text": "ok", "next": "pause"},
        {"id": "bold", "type": "send", "subject": "PICKS", "text": "ok", "next": "pause"},
        {"id": "pause", "type": "wait", "duration": "1d", "next": "end"},
        {"id": "end", "type": "exit"}]})
    [run] = [r["workflow_id"] for r in await enroll(api, f"sp-{tag}", f"split-{tag}")]
    await wait_for_mail(engine, f"split-{tag}@example.com")
    await advance(env, run, timedelta(days=1, minutes=1))
    await env.client.get_workflow_handle(run).result()
    return {"split_arm_then_wait": run}


def summarized() -> dict:
    """A wait, a `wait_for` and sends: every kind of timer and activity an operator reads a summary on."""
    return {"name": "Summarized", "nodes": [
        {"id": "preview", "type": "send", "subject": "Preview", "text": "ok", "next": "wait_2d"},
        {"id": "wait_2d", "type": "wait", "duration": "2d", "next": "opened_preview"},
        {"id": "opened_preview", "type": "wait_for", "event": {"opened": "preview"}, "timeout": "3d",
         "on_event": "end", "on_timeout": "reminder"},
        {"id": "reminder", "type": "send", "channel": ["sms", "email"], "sms": {"text": "Still there?"},
         "subject": "Reminder", "text": "ok", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def record_summarized_run(api, engine, env, tag: str) -> dict[str, str]:
    """Summaries on each timer and activity, and current details that say where the run rests."""
    await create_active_journey(api, f"sum-{tag}", summarized())
    await put_contact(api, f"summed-{tag}", email=f"summed-{tag}@example.com")
    [run] = [r["workflow_id"] for r in await enroll(api, f"sum-{tag}", f"summed-{tag}")]
    handle = env.client.get_workflow_handle(run)
    await wait_for_mail(engine, f"summed-{tag}@example.com")
    for resting, duration in (("at wait_2d until", timedelta(days=2, minutes=1)),
                              ("at opened_preview: wait_for opened of preview until", timedelta(days=3, minutes=1))):
        for _ in range(100):
            details = (await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)).current_details
            if details.startswith(resting):
                break
            await asyncio.sleep(0.1)
        assert details.startswith(resting) and details.endswith(", 1 message sent"), details
        await advance(env, run, duration)
    await wait_for_mail(engine, f"summed-{tag}@example.com", 2)
    return {"summarized_wait_wait_for_send": run}


async def record_tagging_run(api, env, settings, tag: str) -> dict[str, str]:
    await api.put(f"/v1/tag-rules/loyal-{tag}", json={"tag": "loyal", "filter": {"event": f"bought-{tag}"},
                                                       "weight": {"kind": "count", "event": f"bought-{tag}"}})
    workflow_id = f"tagging/record-{tag}"
    await env.client.execute_workflow("TaggingWorkflow", TaggingRequest(day="2026-11-20"), id=workflow_id,
                                      task_queue=settings.task_queue)
    return {"tagging_one_day": workflow_id}


async def record_nightly_run(api, env, settings, tag: str) -> dict[str, str]:
    """The nightly tagging (no day given, as the schedule starts it), then the day's models run it starts."""
    await api.put(f"/v1/tag-rules/nightly-{tag}", json={"tag": "buyer", "filter": {"event": "purchase"},
                                                         "weight": {"kind": "count", "event": "purchase"}})
    workflow_id = f"tagging/nightly-record-{tag}"
    await env.client.execute_workflow("TaggingWorkflow", TaggingRequest(), id=workflow_id,
                                      task_queue=settings.task_queue)
    day = day_that_ended(datetime.now(timezone.utc), settings.brand_time_zone).isoformat()
    return {"tagging_nightly_then_models": workflow_id, "models_one_day": models_workflow_id(day)}


async def record(api, engine, env, settings, twilio: FakeTwilio, overwrite: bool) -> None:
    tag = uuid.uuid4().hex[:6]
    if "--only-nightly" in sys.argv:
        await save(env, await record_nightly_run(api, env, settings, tag), overwrite)
        return
    if "--only-summarized" in sys.argv:  # the newest recording alone, without re-running the others
        await save(env, await record_summarized_run(api, engine, env, tag), overwrite)
        return
    tagging_runs = await record_tagging_run(api, env, settings, tag)
    tag_runs = await record_tag_run(api, engine, env, tag)
    tag_runs |= await record_split_run(api, engine, env, tag)
    batch_runs = await record_batch_runs(api, engine, env, tag)
    enrollment_runs = await record_enrollment_run(api, engine, env, tag)
    enrollment_runs |= await record_contacts_enrollment_run(api, engine, env, tag)
    window_runs = await record_window_runs(api, engine, env, tag)
    channel_runs = await record_channel_runs(api, engine, env, twilio, tag)
    event_runs = await record_event_runs(api, engine, env, settings, tag)
    late_runs = await record_late_event_run(api, engine, env, tag)
    await create_active_journey(api, f"md-{tag}", mothers_day())
    await create_active_journey(api, f"cn-{tag}", click_or_nudge())
    people = ["opener", "ignorer", "clicker", "waiter", "cancelled", "no-email"]
    for name in people:
        await add_contact(api, f"{name}-{tag}", None if name == "no-email" else f"{name}-{tag}@example.com",
                          first_name=name.title())
    md = {r["contact"].rsplit("-", 1)[0].replace("-", "_"): r["workflow_id"] for r in
          await enroll(api, f"md-{tag}", f"opener-{tag}", f"ignorer-{tag}", f"cancelled-{tag}", f"no-email-{tag}")}
    cn = {r["contact"].rsplit("-", 1)[0].replace("-", "_"): r["workflow_id"] for r in await enroll(api, f"cn-{tag}", f"clicker-{tag}", f"waiter-{tag}")}

    [opener_a] = await wait_for_mail(engine, f"opener-{tag}@example.com")
    await api.get(tracking_path(opener_a["html"], "o"))
    await wait_for_mail(engine, f"ignorer-{tag}@example.com")
    await wait_for_mail(engine, f"cancelled-{tag}@example.com")
    await env.client.get_workflow_handle(md["cancelled"]).cancel()
    for name in ("opener", "ignorer", "no_email"):
        await advance(env, md[name], timedelta(days=2, minutes=1))
    opener_b = (await wait_for_mail(engine, f"opener-{tag}@example.com", 2))[1]
    await post_webhook(api, settings.webhook_secret, [{"message_id": opener_b["message_id"], "type": "opened",
                                                        "timestamp": datetime.now(timezone.utc).isoformat()}])
    await advance(env, md["opener"], timedelta(days=5, minutes=1))
    await wait_for_mail(engine, f"opener-{tag}@example.com", 3)
    await advance(env, md["opener"], timedelta(days=3, minutes=1))

    [offer] = await wait_for_mail(engine, f"clicker-{tag}@example.com")
    await api.get(tracking_path(offer["html"], "c"), follow_redirects=False)
    await wait_for_mail(engine, f"waiter-{tag}@example.com")
    await advance(env, cn["waiter"], timedelta(days=3, minutes=1))

    names = {**{f"mothers_day_{k}": v for k, v in md.items()}, **{f"click_or_nudge_{k}": v for k, v in cn.items()},
             **event_runs, **channel_runs, **window_runs, **enrollment_runs, **tag_runs, **tagging_runs,
             **batch_runs, **late_runs, **await record_summarized_run(api, engine, env, tag)}
    await save(env, names, overwrite)


async def save(env, names: dict[str, str], overwrite: bool) -> None:
    for name, workflow_id in names.items():
        if (OUT / f"{name}.json").exists() and not overwrite:
            continue
        handle = env.client.get_workflow_handle(workflow_id)
        try:
            await asyncio.wait_for(handle.result(), 30)
        except Exception as err:  # the cancelled run ends in an error, as it should
            print(f"{name}: {type(err).__name__}")
        history = await handle.fetch_history()
        (OUT / f"{name}.json").write_text(history.to_json())
        print(f"recorded {name}: {len(history.events)} events")


async def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="sojourn-record-"))
    data.chmod(0o755)
    pg = EmbeddedPostgres(data / "pg", free_port())
    pg.start()
    pg.create_database("sojourn")
    url = pg.url("sojourn")
    await asyncio.to_thread(db.upgrade, url)
    env = await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=os.path.join(sysconfig.get_path("scripts"), "temporal"),
        dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"],
        search_attributes=search_attributes.ALL)
    engine = db.create_engine(url)
    twilio = await FakeTwilio().start()
    try:
        async with SmtpSink(url) as sink:
            settings = Settings(database_url=url, smtp_port=sink.port, task_queue="record", api_keys=["k"],
                                public_base_url="http://sojourn.test", twilio_base_url=twilio.base_url,
                                twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
                                twilio_from=twilio.sender)
            app = create_app(settings, temporal=env.client)
            async with app.router.lifespan_context(app), journey_worker(env.client, engine, settings):
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sojourn.test",
                                             headers={"Authorization": "Bearer k"}) as api:
                    await record(api, engine, env, settings, twilio, overwrite="--overwrite" in sys.argv)
    finally:
        await twilio.stop()
        await engine.dispose()
        await env.shutdown()
        pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
