"""Scenario 3's schedule: a journey entered by schedule becomes a Temporal Schedule that lives
and dies with the journey; each firing enrolls the audience as it is; a second firing in the
same week reaches nobody twice (the journey's re-entry cooldown)."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

import pytest
from temporalio.service import RPCError

from sojourn.services.schedules import schedule_id

from helpers import completed_firings, create_active_journey, put_contact, wait_for_mail

TAIPEI = ZoneInfo("Asia/Taipei")


async def test_member_day_schedule_follows_the_journey(api, worker, engine, temporal_env, unique):
    members = [f"m{n}-{unique}" for n in range(3)]
    for member in members:
        await put_contact(api, member, email=f"{member}@example.com", attributes={"club": unique})
    assert (await api.post("/v1/segments", json={"id": f"members-{unique}", "name": "members",
                                                 "filter": {"attribute": "club", "value": unique}})).status_code == 201
    journey = f"member-day-{unique}"
    schedule = temporal_env.client.get_schedule_handle(schedule_id(journey))
    await create_active_journey(api, journey, {
        "name": "Member day",
        "entry": {"schedule": {"cron": "0 11 * * 3", "time_zone": "Asia/Taipei"}, "audience": f"members-{unique}"},
        "reentry": {"policy": "always", "cooldown": "6d"},
        "nodes": [{"id": "promo", "type": "send", "subject": "Double points today", "text": "Members only",
                   "next": "end"}, {"id": "end", "type": "exit"}]})

    described = await schedule.describe()
    assert described.schedule.spec.time_zone_name == "Asia/Taipei" and not described.schedule.state.paused
    upcoming = described.info.next_action_times[0].astimezone(TAIPEI)
    assert (upcoming.strftime("%a"), upcoming.hour, upcoming.minute) == ("Wed", 11, 0)

    await schedule.trigger()  # this week's firing, now
    [firing] = await completed_firings(temporal_env, journey, 1)
    for member in members:
        [mail] = await wait_for_mail(engine, f"{member}@example.com")
        assert mail["subject"] == "Double points today"
    first = await temporal_env.client.get_workflow_handle(firing.id).query("progress")
    assert (first["enrolled"], first["existing"]) == (3, 0)

    # A second firing within the week (a retry, or someone pressing the button): nobody twice.
    await asyncio.sleep(1.1)  # a different firing time, so a different firing
    await schedule.trigger()
    firings = await completed_firings(temporal_env, journey, 2)
    assert len(firings) == 2
    second = [w for w in firings if w.id != firing.id][0]
    repeat = await temporal_env.client.get_workflow_handle(second.id).query("progress")
    assert (repeat["enrolled"], repeat["existing"]) == (0, 3)
    await asyncio.sleep(0.5)
    for member in members:
        assert len(await wait_for_mail(engine, f"{member}@example.com", timeout=0.2)) == 1

    assert (await api.post(f"/v1/journeys/{journey}/pause")).status_code == 200
    assert (await schedule.describe()).schedule.state.paused
    assert (await api.post(f"/v1/journeys/{journey}/archive")).status_code == 200
    with pytest.raises(RPCError):
        await schedule.describe()



async def test_a_calendar_schedule_fires_at_local_times(api, temporal_env, unique):
    """The calendar form: 11:00 Taipei on Wednesdays; a new version moves it to 09:30 on May 1."""
    journey = f"calendar-{unique}"
    assert (await api.post("/v1/segments", json={"id": f"all-{unique}", "name": "all",
                                                 "filter": {"attribute": "club", "value": unique}})).status_code == 201

    def definition(calendar: dict) -> dict:
        return {"name": "calendar", "entry": {"schedule": {"calendar": calendar, "time_zone": "Asia/Taipei"},
                                              "audience": f"all-{unique}"},
                "nodes": [{"id": "promo", "type": "send", "subject": "Hi", "text": "Hi", "next": "end"},
                          {"id": "end", "type": "exit"}]}

    async def upcoming() -> list[tuple]:
        info = (await temporal_env.client.get_schedule_handle(schedule_id(journey)).describe()).info
        return [(t.astimezone(TAIPEI).strftime("%a"), t.astimezone(TAIPEI).day, t.astimezone(TAIPEI).month,
                 t.astimezone(TAIPEI).strftime("%H:%M")) for t in info.next_action_times[:3]]

    await create_active_journey(api, journey, definition({"at": "11:00", "weekdays": ["wed"]}))
    assert {(day, at) for day, _, _, at in await upcoming()} == {("Wed", "11:00")}
    updated = await api.put(f"/v1/journeys/{journey}", json={"definition": definition(
        {"at": "09:30", "days": [1], "months": [5]})})
    assert updated.status_code == 200, updated.text
    assert {(day, month, at) for _, day, month, at in await upcoming()} == {(1, 5, "09:30")}

    both = await api.post("/v1/journeys", json={"id": f"both-{unique}", "definition": definition(
        {"at": "11:00"}) | {"entry": {"schedule": {"cron": "0 11 * * 3", "calendar": {"at": "11:00"}},
                                      "audience": f"all-{unique}"}}})
    assert both.status_code == 422
    assert "either a `cron` expression or a `calendar`" in both.text
