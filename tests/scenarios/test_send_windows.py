"""Send windows and limits end to end: waits until a local time, quiet hours in each contact's
own time zone, and a weekly frequency cap across journeys with priorities."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sojourn.contracts.journey import JourneyState
from sojourn.data.models import Message
from sojourn.dsl.send_windows import next_local_time, parse_local_time
from sojourn.settings import FrequencyCap
from worker.main import journey_worker

from helpers import (
    advance,
    create_active_journey,
    enroll,
    finished,
    put_contact,
    wait_for_mail,
    waiting_state,
)

TAIPEI, LONDON, NEW_YORK = ZoneInfo("Asia/Taipei"), ZoneInfo("Europe/London"), ZoneInfo("America/New_York")


async def changed_outcome(temporal_env, workflow_id: str, before: str) -> str:
    handle = temporal_env.client.get_workflow_handle(workflow_id)
    for _ in range(200):
        outcome = (await handle.query("state", result_type=JourneyState)).path[-1].outcome
        if outcome != before:
            return outcome
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} still {before!r}")


async def rows(engine, journey: str) -> list[Message]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(Message).where(Message.journey_id == journey)
                                        .order_by(Message.due_at))).all())


async def test_wait_until_wednesday_eleven_in_each_contacts_zone(api, worker, engine, temporal_env, unique):
    journey = f"member-day-{unique}"
    await put_contact(api, f"tw-{unique}", email=f"tw-{unique}@example.com", time_zone="Asia/Taipei")
    await put_contact(api, f"nz-{unique}", email=f"nz-{unique}@example.com")  # no zone: the journey's
    await create_active_journey(api, journey, {"name": "member day", "time_zone": "America/New_York", "nodes": [
        {"id": "wednesday", "type": "wait", "at": "11:00", "weekdays": ["wed"], "next": "promo"},
        {"id": "promo", "type": "send", "subject": "Member day", "text": "Double points today", "next": "end"},
        {"id": "end", "type": "exit"}]})
    started = datetime.now(timezone.utc)
    runs = await enroll(api, journey, f"tw-{unique}", f"nz-{unique}")

    for run, zone in zip(runs, (TAIPEI, NEW_YORK)):
        due = datetime.fromisoformat((await waiting_state(temporal_env, run["workflow_id"])).wait_until)
        local = due.astimezone(zone)
        assert (local.strftime("%a"), local.hour, local.minute) == ("Wed", 11, 0)
        assert started <= due <= started + timedelta(days=7)
        await advance(temporal_env, run["workflow_id"], due - started + timedelta(minutes=1))
    for address in (f"tw-{unique}@example.com", f"nz-{unique}@example.com"):
        [mail] = await wait_for_mail(engine, address)
        assert mail["subject"] == "Member day"


async def test_quiet_hours_hold_a_message_until_morning_in_the_contacts_zone(api, engine, temporal_env, settings,
                                                                           unique):
    """A promotion fires at 11:00 Taipei: Taipei gets it at once, London (03:00 there) at 08:00
    London, and a node that says `skip` drops it for London with the reason."""
    quiet = settings.model_copy(update={"quiet_hours": "22:00-08:00"})
    now = datetime.now(timezone.utc)
    # A winter Wednesday, so London is on UTC: 11:00 Taipei is 03:00 there.
    firing = next_local_time(max(now, datetime(2026, 12, 1, tzinfo=timezone.utc)), TAIPEI, parse_local_time("11:00"),
                             ["wed"])
    for name, zone in (("tw", "Asia/Taipei"), ("uk", "Europe/London")):
        await put_contact(api, f"{name}-{unique}", email=f"{name}-{unique}@example.com", time_zone=zone)
    for journey, when_quiet in ((f"promo-{unique}", "defer"), (f"flash-{unique}", "skip")):
        await create_active_journey(api, journey, {"name": journey, "nodes": [
            {"id": "firing", "type": "wait", "until": firing.isoformat(), "next": "promo"},
            {"id": "promo", "type": "send", "subject": journey, "text": "30% off", "when_quiet": when_quiet,
             "next": "end"},
            {"id": "end", "type": "exit"}]})

    async with journey_worker(temporal_env.client, engine, quiet):
        promo = await enroll(api, f"promo-{unique}", f"tw-{unique}", f"uk-{unique}")
        flash = await enroll(api, f"flash-{unique}", f"uk-{unique}")
        for run in (*promo, *flash):
            await advance(temporal_env, run["workflow_id"], firing - now + timedelta(seconds=1))
        [taipei] = await wait_for_mail(engine, f"tw-{unique}@example.com")
        held = await waiting_state(temporal_env, promo[1]["workflow_id"])
        morning = firing.astimezone(LONDON).replace(hour=8).astimezone(timezone.utc)
        assert datetime.fromisoformat(held.wait_until) == morning
        assert held.path[-1].outcome == f"deferred until {morning.isoformat()}: quiet hours 22:00-08:00 in Europe/London"
        assert [(r.status, r.deferred_until) for r in await rows(engine, f"promo-{unique}") if r.recipient.startswith("uk")
                ] == [("deferred", morning)]
        skipped = await finished(temporal_env, flash[0]["workflow_id"])
        assert skipped.messages[0].status == "skipped"
        assert skipped.messages[0].reason.startswith("quiet hours 22:00-08:00 in Europe/London; skipped")

        await advance(temporal_env, promo[1]["workflow_id"], morning - firing + timedelta(minutes=1))
        [london] = await wait_for_mail(engine, f"uk-{unique}@example.com")
        assert (await finished(temporal_env, promo[1]["workflow_id"])).messages[0].status == "sent"
    assert taipei["subject"] == london["subject"] == f"promo-{unique}"
    sent = {r.recipient.split("-")[0]: r for r in await rows(engine, f"promo-{unique}")}
    assert sent["uk"].status == "sent" and morning <= sent["uk"].due_at < morning + timedelta(minutes=1)
    assert firing <= sent["tw"].due_at < firing + timedelta(minutes=1)


async def test_weekly_cap_across_journeys_with_priority(api, engine, temporal_env, settings, unique):
    """At most 3 marketing messages a week across all journeys (scenario 7): the fourth waits
    for room, a `skip` node drops its message, a receipt is not counted, and when room comes
    back the higher-priority journey's message goes first."""
    capped = settings.model_copy(update={"frequency_caps": [FrequencyCap(max=3, per="7d")]})
    contact, address = f"cap-{unique}", f"cap-{unique}@example.com"
    await put_contact(api, contact, email=address)

    def mail(node_id: str, next_: str, **extra) -> dict:
        return {"id": node_id, "type": "send", "subject": node_id, "text": node_id, "next": next_, **extra}

    def later(node_id: str, next_: str) -> dict:
        return {"id": node_id, "type": "wait", "duration": "1h", "next": next_}

    four_hours = {"id": "later", "type": "wait", "duration": "4h", "next": "send"}
    journeys = {
        "series": {"name": "series", "nodes": [mail("m1", "w1"), later("w1", "m2"), mail("m2", "w2"), later("w2", "m3"),
                                               mail("m3", "w3"), later("w3", "m4"), mail("m4", "end"),
                                               {"id": "end", "type": "exit"}]},
        "flash": {"name": "flash", "nodes": [four_hours, mail("send", "end", when_capped="skip"),
                                             {"id": "end", "type": "exit"}]},
        "receipt": {"name": "receipt", "nodes": [four_hours, mail("send", "end", transactional=True),
                                                 {"id": "end", "type": "exit"}]},
        "vip": {"name": "vip", "priority": 10, "nodes": [four_hours, mail("send", "end"),
                                                          {"id": "end", "type": "exit"}]},
    }
    async with journey_worker(temporal_env.client, engine, capped):
        runs = {}
        for name, definition in journeys.items():
            await create_active_journey(api, f"{name}-{unique}", definition)
            [runs[name]] = [r["workflow_id"] for r in await enroll(api, f"{name}-{unique}", contact)]
        await wait_for_mail(engine, address, 1)
        for hour in range(1, 5):  # every run's clock moves together, an hour at a time
            for run in runs.values():
                await advance(temporal_env, run, timedelta(hours=1))
            await asyncio.sleep(0.5)
        flash = await finished(temporal_env, runs["flash"])
        receipt = await finished(temporal_env, runs["receipt"])
        series = await waiting_state(temporal_env, runs["series"])
        vip = await waiting_state(temporal_env, runs["vip"])

        assert [m["subject"] for m in await wait_for_mail(engine, address, 4)] == ["m1", "m2", "m3", "send"]
        assert receipt.messages[0].status == "sent"  # transactional: not counted, not capped
        assert flash.messages[0].status == "skipped" and "frequency cap: 3 messages per 7d" in flash.messages[0].reason
        [m1] = [r for r in await rows(engine, f"series-{unique}") if r.node_id == "m1"]
        assert series.path[-1].node == "m4" and series.path[-1].outcome.startswith(
            f"deferred until {(m1.due_at + timedelta(days=7)).isoformat()}: frequency cap")
        assert vip.path[-1].outcome.startswith("deferred until")

        # A week after m1 (the clocks stand 4 h after it), m1 leaves the window: one slot,
        # and the higher priority takes it; m4 gets the next, when m2 leaves an hour later.
        # The series wakes first: it must leave the slot to the waiting higher priority.
        await advance(temporal_env, runs["series"], timedelta(days=7) - timedelta(hours=4) + timedelta(minutes=1))
        yielded = await changed_outcome(temporal_env, runs["series"], series.path[-1].outcome)
        if yielded is None:
            # The run has ended: the server's fast-forward ran on past its target through the series'
            # next timer (1 in ~20 CI runs; seen 2026-12-01: m4 went out 10 s after m2 left the
            # window), too fast for the poll to see the yield. The rows still tell: m4 left the free
            # slot unused and went out only once m2 had left the window too.
            [m2, m4] = [r for r in await rows(engine, f"series-{unique}") if r.node_id in ("m2", "m4")]
            assert m4.status == "sent" and m4.due_at >= m2.due_at + timedelta(days=7), (m2, m4)
            # The series' clock now stands past the VIP's next slot as well, so what the VIP gets
            # next says nothing about priority: that part is checked on the runs that stop in time.
            return
        elif not yielded.endswith("frequency cap: a higher-priority message goes first"):
            # What the runs and the rows said, to find out why.
            state = await temporal_env.client.get_workflow_handle(runs["series"]).query("state", result_type=JourneyState)
            sent = [(r.journey_id.split("-")[0], r.node_id, r.status, r.priority, r.due_at, r.deferred_until, r.error)
                    for j in journeys for r in await rows(engine, f"{j}-{unique}")]
            raise AssertionError(f"{yielded!r}; series path {[(s.node, s.entered_at, s.outcome) for s in state.path]}; "
                                 f"messages {sent}")
        await advance(temporal_env, runs["vip"], timedelta(days=7) - timedelta(hours=4) + timedelta(minutes=1))
        assert (await finished(temporal_env, runs["vip"])).messages[0].status == "sent"
        await advance(temporal_env, runs["series"], timedelta(hours=2))
        assert (await finished(temporal_env, runs["series"])).messages[-1].status == "sent"

    marketing = sorted([r for j in ("series", "flash", "vip") for r in await rows(engine, f"{j}-{unique}")
                        if r.status == "sent"], key=lambda r: r.due_at)
    assert [r.node_id if r.journey_id.startswith("series") else r.journey_id.split("-")[0] for r in marketing] == [
        "m1", "m2", "m3", "vip", "m4"]
    for i, first in enumerate(marketing):  # never more than 3 in any 7 days
        assert len([r for r in marketing[i:] if r.due_at < first.due_at + timedelta(days=7)]) <= 3
