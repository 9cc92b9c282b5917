"""The playbooks that need more than email: scenario 3's channel per audience, scenario 1's
SMS for those who did not open, the preview, and a rate limit shared by workers."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.send import SendActivities
from sojourn.contracts.send import SendRequest
from sojourn.data.models import Contact, JourneyRun
from sojourn.delivery.channels.registry import build_channels
from sojourn.delivery.send import Sender
from sojourn.dsl.validation import load_definition_file
from sojourn.services.schedules import schedule_id
from sojourn.settings import FrequencyCap

from helpers import (
    advance,
    completed_firings,
    create_active_journey,
    enroll,
    finished,
    put_contact,
    wait_for_mail,
    waiting_state,
    zone_at,
)


async def test_scenario_3_channel_by_audience(api, worker, engine, temporal_env, providers, unique):
    """Women get LINE, men the app push, everyone else email: a branch on attributes."""
    journey = f"weekly-picks-{unique}"
    people = {
        f"hana-{unique}": dict(attributes={"gender": "female"}, line_user_id="U" + unique.ljust(32, "a"),
                               email=f"hana-{unique}@example.com"),
        f"ken-{unique}": dict(attributes={"gender": "male"}, push_token=f"fcm-ken-{unique}",
                              email=f"ken-{unique}@example.com"),
        f"alex-{unique}": dict(attributes={"gender": "unspecified"}, email=f"alex-{unique}@example.com"),
    }
    for external_id, fields in people.items():
        await put_contact(api, external_id, first_name=external_id.split("-")[0].title(), **fields)
    await create_active_journey(api, journey, {"name": "weekly picks", "nodes": [
        {"id": "audience", "type": "branch", "cases": [
            {"when": {"attribute": "gender", "op": "eq", "value": "female"}, "then": "line"},
            {"when": {"attribute": "gender", "op": "eq", "value": "male"}, "then": "push"}], "default": "email"},
        {"id": "line", "type": "send", "channel": "line", "line": {"text": "{{ first_name }}, this week's picks"},
         "next": "end"},
        {"id": "push", "type": "send", "channel": "push", "push": {"title": "This week's picks",
                                                                   "body": "Chosen for {{ first_name }}"}, "next": "end"},
        {"id": "email", "type": "send", "subject": "This week's picks", "text": "Hi {{ first_name }}", "next": "end"},
        {"id": "end", "type": "exit"},
    ]})
    states = [await finished(temporal_env, r["workflow_id"]) for r in await enroll(api, journey, *people)]

    assert [(s.messages[0].node, s.messages[0].channel, s.messages[0].status) for s in states] == [
        ("line", "line", "sent"), ("push", "push", "sent"), ("email", "email", "sent")]
    assert providers.problems() == []
    [line] = providers.line.accepted
    assert line.json()["messages"] == [{"type": "text", "text": "Hana, this week's picks"}]
    [push] = providers.push.accepted
    assert push.json()["message"]["notification"]["body"] == "Chosen for Ken"
    [mail] = await wait_for_mail(engine, f"alex-{unique}@example.com")
    assert mail["text"].strip() == "Hi Alex"
    assert await wait_for_mail(engine, f"hana-{unique}@example.com", timeout=0.5) == []


async def test_scenario_1_not_opened_switches_to_sms(api, worker, engine, temporal_env, providers, unique):
    """Mother's Day's reminder: whoever did not open the email in two days gets a text instead."""
    journey = f"mothers-day-sms-{unique}"
    await put_contact(api, f"opens-{unique}", email=f"opens-{unique}@example.com", phone="+12015551111",
                      consent={"sms": "subscribed"})
    await put_contact(api, f"ignores-{unique}", email=f"ignores-{unique}@example.com", phone="+12015552222",
                      first_name="Gwen", consent={"sms": "subscribed"})
    await create_active_journey(api, journey, {"name": "mother's day", "nodes": [
        {"id": "preview", "type": "send", "subject": "Mother's Day starts May 1",
         "html": '<p>Hello</p>', "next": "opened"},
        {"id": "opened", "type": "wait_for", "event": {"opened": "preview"}, "timeout": "2d",
         "on_event": "end", "on_timeout": "text"},
        {"id": "text", "type": "send", "channel": "sms",
         "sms": {"text": "{{ first_name | default('Hi') }}, Mother's Day gifts: 20% off until Sunday"}, "next": "end"},
        {"id": "end", "type": "exit"},
    ]})
    opens, ignores = await enroll(api, journey, f"opens-{unique}", f"ignores-{unique}")
    [mail] = await wait_for_mail(engine, f"opens-{unique}@example.com")
    pixel = mail["html"].split('src="http://sojourn.test')[1].split('"')[0]
    assert (await api.get(pixel)).status_code == 200
    await wait_for_mail(engine, f"ignores-{unique}@example.com")
    await advance(temporal_env, ignores["workflow_id"], timedelta(days=2, minutes=1))
    states = [await finished(temporal_env, r["workflow_id"]) for r in (opens, ignores)]

    assert [[(m.node, m.channel) for m in s.messages] for s in states] == [
        [("preview", "email")], [("preview", "email"), ("text", "sms")]]
    [text] = providers.sms.accepted
    assert text.form()["To"] == "+12015552222"
    assert text.form()["Body"] == "Gwen, Mother's Day gifts: 20% off until Sunday"


async def test_preview_renders_every_channel_without_sending(api, engine, providers, unique):
    journey = f"preview-{unique}"
    await put_contact(api, f"zoe-{unique}", first_name="Zoe", email=f"zoe-{unique}@example.com",
                      phone="+12015553333", time_zone="Asia/Taipei", attributes={"balance": 1234.5})
    await create_active_journey(api, journey, {"name": "preview", "nodes": [
        {"id": "promo", "type": "send", "channel": ["sms", "email"],
         "sms": {"text": "{{ first_name }}: {{ contact.balance | money('TWD') }} by {{ event.occurred_at | local('%H:%M') }}"},
         "subject": "Hi {{ first_name }}", "html": '<a href="https://shop.example/x">{{ contact.balance | money }}</a>',
         "next": "oops"},
        {"id": "oops", "type": "send", "subject": "{{ contact.missing.deeper | money }}", "text": "x", "next": "end"},
        {"id": "end", "type": "exit"},
    ]})
    answer = await api.post(f"/v1/journeys/{journey}/preview", json={
        "node": "promo", "contact": f"zoe-{unique}",
        "event": {"name": "cart.updated", "occurred_at": "2026-05-01T01:30:00+00:00"}})
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    # SMS needs an opt-in this contact never gave, so a send now would use email.
    assert preview["channel"] == "email" and preview["refusals"] == ["sms: contact has not opted in to sms"]
    assert preview["messages"]["sms"]["payload"] == "Zoe: NT$1,235 by 09:30"
    email = preview["messages"]["email"]
    assert email["subject"] == "Hi Zoe" and "$1,234.50</a>" in email["payload"]["html"]
    assert "/t/c/" in email["payload"]["html"] and preview["errors"] == {}

    failing = (await api.post(f"/v1/journeys/{journey}/preview", json={"node": "oops", "contact": f"zoe-{unique}"})).json()
    assert failing["messages"] == {} and "money" in failing["errors"]["email"]
    assert (await api.post(f"/v1/journeys/{journey}/preview", json={"node": "end", "contact": f"zoe-{unique}"})
            ).json()["error"]["code"] == "not_a_send_node"
    assert (await api.post(f"/v1/journeys/{journey}/preview", json={"node": "promo", "contact": "nobody"})
            ).status_code == 404
    assert providers.sms.received == [] and await wait_for_mail(engine, f"zoe-{unique}@example.com", timeout=0.3) == []


async def test_rate_limit_is_shared_by_workers(api, engine, settings, providers, unique):
    """Two workers' send activities, 2 SMS per second between them: the provider sees the n-th
    text no earlier than n-1 half seconds after the sends began, however they are scheduled.

    That is what the limit guarantees under any load: each send goes at its own slot, slots are
    half a second apart, and none is earlier than the first request for one. A loaded machine
    only makes texts later, so it cannot fail this (gaps between arrivals, which jitter shrinks,
    could); two workers each limiting only themselves would send two texts at once from the start
    and the sixth after one second, not two and a half."""
    limited = settings.model_copy(update={"channel_rates": {"sms": 2.0}})
    await put_contact(api, f"rate-{unique}", phone="+12015554444", consent={"sms": "subscribed"})
    async with engine.connect() as conn:
        contact_id = (await conn.execute(select(Contact.id).where(Contact.external_id == f"rate-{unique}"))).scalar()
    async with httpx.AsyncClient() as http:
        workers = [SendActivities(Sender(engine, limited, build_channels(limited, None, http))) for _ in range(2)]

        async def send(i: int):
            request = SendRequest(idempotency_key=f"rate/{unique}/{i}", workflow_id=f"rate/{unique}", journey_id="rate",
                                  journey_version=1, node_id="text", contact_id=contact_id,
                                  node={"id": "text", "type": "send", "channel": "sms", "sms": {"text": f"#{i}"},
                                        "next": "end"})
            env = ActivityEnvironment()
            for _ in range(20):  # what Temporal does with a RateLimited attempt: retry after its delay
                try:
                    return await env.run(workers[i % 2].send, request)
                except ApplicationError as err:
                    assert err.type == "RateLimited", err
                    await asyncio.sleep(err.next_retry_delay.total_seconds())
            raise AssertionError("never sent")

        started = time.monotonic()
        results = await asyncio.gather(*(send(i) for i in range(6)))
    assert [r.status for r in results] == ["sent"] * 6
    arrivals = sorted(r.at - started for r in providers.sms.received)
    slack = 0.01  # Postgres's clock against ours, read a few seconds apart
    assert len(arrivals) == 6 and all(at >= n * 0.5 - slack for n, at in enumerate(arrivals)), arrivals


async def test_a_rate_limited_text_under_frequency_caps_is_sent_on_retry(api, engine, settings, providers, unique):
    """With caps on, a send reserves its place under the cap before it goes; a rate-limited
    attempt must not leave behind a reservation that its retry reads as "sent, outcome unknown"."""
    limited = settings.model_copy(update={"channel_rates": {"sms": 2.0},
                                          "frequency_caps": [FrequencyCap(max=100, per="7d")]})
    await put_contact(api, f"capped-rate-{unique}", phone="+12015555555", consent={"sms": "subscribed"})
    async with engine.connect() as conn:
        contact_id = (await conn.execute(select(Contact.id).where(
            Contact.external_id == f"capped-rate-{unique}"))).scalar()
    async with httpx.AsyncClient() as http:
        sender = SendActivities(Sender(engine, limited, build_channels(limited, None, http)))

        async def send(i: int):
            request = SendRequest(idempotency_key=f"capped-rate/{unique}/{i}", workflow_id=f"capped-rate/{unique}",
                                  journey_id="rate", journey_version=1, node_id="text", contact_id=contact_id,
                                  node={"id": "text", "type": "send", "channel": "sms", "sms": {"text": f"#{i}"},
                                        "next": "end"})
            for _ in range(20):  # what Temporal does with a RateLimited attempt: retry after its delay
                try:
                    return await ActivityEnvironment().run(sender.send, request)
                except ApplicationError as err:
                    assert err.type == "RateLimited", err
                    await asyncio.sleep(err.next_retry_delay.total_seconds())
            raise AssertionError("never sent")

        results = await asyncio.gather(*(send(i) for i in range(5)))
    assert [r.status for r in results] == ["sent"] * 5
    assert sorted(r.form()["Body"] for r in providers.sms.accepted) == [f"#{i}" for i in range(5)]


async def test_scenario_3_member_day_end_to_end(api, worker, engine, temporal_env, providers, unique):
    """The shipped member-day journey as a marketer posts it: the schedule fires (Wednesday 11:00
    Taipei), LINE for women, the app push for men, email for the rest; a member for whom it is
    02:00 gets it at 08:00 their time; a retried firing reaches nobody twice; next week's does."""
    journey = f"member-day-{unique}"
    definition = load_definition_file(Path(__file__).parents[3] / "examples" / "member-day.yaml")
    definition["entry"]["audience"] = f"members-{unique}"
    members = {
        "hana": dict(attributes={"gender": "female"}, line_user_id="U" + unique.ljust(32, "b"), time_zone=zone_at(12)),
        "ken": dict(attributes={"gender": "male"}, push_token=f"fcm-ken-{unique}", time_zone=zone_at(12)),
        "alex": dict(attributes={}, time_zone=zone_at(12)),
        "owl": dict(attributes={}, time_zone=zone_at(2)),
    }
    for name, fields in members.items():
        fields["attributes"]["club"] = unique
        await put_contact(api, f"{name}-{unique}", first_name=name.title(), email=f"{name}-{unique}@example.com",
                          **fields)
    assert (await api.post("/v1/segments", json={"id": f"members-{unique}", "name": "members", "filter": {
        "attribute": "club", "value": unique}})).status_code == 201
    await create_active_journey(api, journey, definition)
    schedule = temporal_env.client.get_schedule_handle(schedule_id(journey))

    async def fire(expect: int) -> dict:
        await asyncio.sleep(1.1)  # each firing has its own second, so its own enrollment
        await schedule.trigger()
        firings = await completed_firings(temporal_env, journey, expect)
        assert len(firings) == expect
        newest = max(firings, key=lambda w: w.start_time)
        return await temporal_env.client.get_workflow_handle(newest.id).query("progress")

    first = await fire(1)
    assert (first["mode"], first["enrolled"], first["existing"]) == ("runs", 4, 0)
    owl_run = f"journey/{journey}/owl-{unique}"
    owl = await waiting_state(temporal_env, owl_run)
    assert f"quiet hours 22:00-08:00 in {members['owl']['time_zone']}" in owl.path[-1].outcome
    [alex] = await wait_for_mail(engine, f"alex-{unique}@example.com")
    assert alex["subject"] == "Member day: Alex offers inside"
    for name in ("hana", "ken"):
        state = await finished(temporal_env, f"journey/{journey}/{name}-{unique}")
        assert [(m.channel, m.status) for m in state.messages] == [("line" if name == "hana" else "push", "sent")]
    assert [r.json()["messages"][0]["text"] for r in providers.line.accepted] == [
        "Hana, double points on cosmetics today!"]
    assert [r.json()["message"]["notification"]["title"] for r in providers.push.accepted] == ["Member day"]
    wake = datetime.fromisoformat(owl.wait_until)
    assert wake.astimezone(ZoneInfo(members["owl"]["time_zone"])).hour == 8
    await advance(temporal_env, owl_run, wake - datetime.now(timezone.utc) + timedelta(minutes=1))
    assert (await finished(temporal_env, owl_run)).messages[0].status == "sent"

    again = await fire(2)  # the same week: a retried firing, someone pressing the button
    assert (again["enrolled"], again["existing"]) == (0, 4)

    # A week on (the journey's 6-day cooldown is kept in Postgres, whose clock does not skip).
    async with engine.begin() as conn:
        await conn.execute(update(JourneyRun).where(JourneyRun.journey_id == journey)
                           .values(enrolled_at=JourneyRun.enrolled_at - timedelta(days=7)))
    next_week = await fire(3)
    assert (next_week["enrolled"], next_week["existing"]) == (4, 0)
    await wait_for_mail(engine, f"alex-{unique}@example.com", 2)
    await asyncio.sleep(0.5)
    assert len(providers.line.accepted) == len(providers.push.accepted) == 2
    assert len(await wait_for_mail(engine, f"alex-{unique}@example.com", timeout=0.2)) == 2
    assert len(await wait_for_mail(engine, f"owl-{unique}@example.com", timeout=0.2)) == 1  # still night for them
    assert await wait_for_mail(engine, f"hana-{unique}@example.com", timeout=0.2) == []
    assert providers.problems() == []
