"""`at: best_time` end to end: a send waits for the contact's best hour in their own zone within
its window, a contact without a stored hour gets the brand's, quiet hours still hold the message,
a wait node rests until the best hour too, and the simulation shows the hour it chose."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select, text

from sojourn.data.models import Contact, Message
from sojourn.dsl.send_windows import next_local_time, parse_local_time
from worker.main import journey_worker

from helpers import advance, create_active_journey, enroll, finished, put_contact, waiting_state

TAIPEI = ZoneInfo("Asia/Taipei")
BRAND_HOUR = 8  # every test that plants the brand's hour plants this one (the version is shared)


async def plant_hours(engine, hours: dict[str, int]) -> None:
    """The brand's hour (as the newest send_time version before the runs decide, at 09:00 Taipei:
    other tests' versions may be dated later, even on a skipped clock) and some contacts' own hours."""
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO prediction_models (name, version, as_of, params, metrics, used)"
            " VALUES ('send_time', 999999, :as_of, :params, '{}', true) ON CONFLICT DO NOTHING"),
            {"as_of": nine_in_taipei() - timedelta(minutes=1), "params": f'{{"brand_hour": {BRAND_HOUR}}}'})
        for external_id, hour in hours.items():
            contact_id = await conn.scalar(select(Contact.id).where(Contact.external_id == external_id))
            await conn.execute(text(
                "INSERT INTO contact_predictions (contact_id, name, value, model, model_version)"
                " VALUES (:c, 'send_time.best_hour', :h, 'send_time', 999999)"), {"c": contact_id, "h": hour})


def nine_in_taipei() -> datetime:
    """A coming 09:00 in Taipei, after the test server's clock."""
    now = datetime.now(timezone.utc)
    return next_local_time(max(now, datetime(2026, 12, 1, tzinfo=timezone.utc)) + timedelta(days=1), TAIPEI,
                           parse_local_time("09:00"))


def at_nine_then(node: dict) -> dict:
    """The run reaches `node` at 09:00 Taipei."""
    return {"name": "best time", "nodes": [
        {"id": "nine", "type": "wait", "until": nine_in_taipei().isoformat(), "next": node["id"]},
        {"next": "end", **node},
        {"id": "end", "type": "exit"}]}


def best_time_send(unique: str, **extra) -> dict:
    return {"id": "promo", "type": "send", "subject": f"Sale {unique}", "text": "30% off", "at": "best_time",
            "within": "24h", **extra}


async def sent_at(engine, journey: str) -> dict[str, datetime]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Message.recipient, Message.due_at, Message.status)
                                   .where(Message.journey_id == journey))).all()
    return {row.recipient.split("-")[0]: row.due_at for row in rows if row.status == "sent"}


async def test_a_send_goes_at_the_contacts_best_hour_else_the_brands(api, worker, engine, temporal_env, unique):
    journey = f"best-{unique}"
    for name in ("owl", "newcomer"):
        await put_contact(api, f"{name}-{unique}", email=f"{name}-{unique}@example.com", time_zone="Asia/Taipei")
    await plant_hours(engine, {f"owl-{unique}": 21})
    await create_active_journey(api, journey, at_nine_then(best_time_send(unique)))
    nine = nine_in_taipei()
    now = datetime.now(timezone.utc)
    owl, newcomer = await enroll(api, journey, f"owl-{unique}", f"newcomer-{unique}")
    for run in (owl, newcomer):
        await advance(temporal_env, run["workflow_id"], nine - now + timedelta(seconds=1))

    owl_state = await waiting_state(temporal_env, owl["workflow_id"])
    evening = nine.astimezone(TAIPEI).replace(hour=21).astimezone(timezone.utc)
    assert datetime.fromisoformat(owl_state.wait_until) == evening  # 21:00 Taipei, the same day
    assert owl_state.path[-1].outcome == "best time 21:00 Asia/Taipei (the contact's best hour)"
    newcomer_state = await waiting_state(temporal_env, newcomer["workflow_id"])
    morning = (nine + timedelta(days=1)).astimezone(TAIPEI).replace(hour=BRAND_HOUR).astimezone(timezone.utc)
    assert datetime.fromisoformat(newcomer_state.wait_until) == morning  # 08:00 next day: within 24h of 09:00
    assert newcomer_state.path[-1].outcome == "best time 08:00 Asia/Taipei (the brand's best hour)"

    for run, due in ((owl, evening), (newcomer, morning)):
        await advance(temporal_env, run["workflow_id"], due - nine + timedelta(minutes=1))
        assert (await finished(temporal_env, run["workflow_id"])).messages[0].status == "sent"
    sent = await sent_at(engine, journey)
    assert evening <= sent["owl"] < evening + timedelta(minutes=2)
    assert morning <= sent["newcomer"] < morning + timedelta(minutes=2)


async def test_quiet_hours_still_hold_a_best_time_send(api, engine, temporal_env, settings, unique):
    journey = f"quiet-best-{unique}"
    await put_contact(api, f"owl-{unique}", email=f"owl-{unique}@example.com", time_zone="Asia/Taipei")
    await plant_hours(engine, {f"owl-{unique}": 21})
    await create_active_journey(api, journey, at_nine_then(best_time_send(unique)))
    nine, now = nine_in_taipei(), datetime.now(timezone.utc)
    async with journey_worker(temporal_env.client, engine, settings.model_copy(update={"quiet_hours": "20:00-08:00"})):
        [run] = await enroll(api, journey, f"owl-{unique}")
        await advance(temporal_env, run["workflow_id"], nine - now + timedelta(seconds=1))
        await waiting_state(temporal_env, run["workflow_id"])
        await advance(temporal_env, run["workflow_id"], timedelta(hours=12, minutes=1))
        morning = (nine + timedelta(days=1)).astimezone(TAIPEI).replace(hour=8).astimezone(timezone.utc)
        for _ in range(100):
            state = await waiting_state(temporal_env, run["workflow_id"])
            if state.path[-1].outcome.startswith("deferred"):
                break
        assert state.path[-1].outcome == f"deferred until {morning.isoformat()}: quiet hours 20:00-08:00 in Asia/Taipei"
        await advance(temporal_env, run["workflow_id"], timedelta(hours=11, minutes=1))
        assert (await finished(temporal_env, run["workflow_id"])).messages[0].status == "sent"
    assert morning <= (await sent_at(engine, journey))["owl"] < morning + timedelta(minutes=2)


async def test_a_wait_rests_until_the_best_hour_and_the_simulation_shows_it(api, worker, engine, temporal_env,
                                                                          unique):
    journey = f"best-wait-{unique}"
    await put_contact(api, f"owl-{unique}", email=f"owl-{unique}@example.com", time_zone="Asia/Taipei")
    await plant_hours(engine, {f"owl-{unique}": 21})
    definition = at_nine_then({"id": "evening", "type": "wait", "at": "best_time", "within": "2d", "next": "promo"})
    definition["nodes"][1]["next"] = "promo"
    definition["nodes"].insert(2, {"id": "promo", "type": "send", "subject": f"Hi {unique}", "text": "ok",
                                   "next": "end"})
    await create_active_journey(api, journey, definition)
    evening = nine_in_taipei().astimezone(TAIPEI).replace(hour=21)
    # The real run first: a simulation skips the test server's clock, every run's with it.
    [run] = await enroll(api, journey, f"owl-{unique}")
    await advance(temporal_env, run["workflow_id"], nine_in_taipei() - datetime.now(timezone.utc) + timedelta(seconds=1))
    state = await waiting_state(temporal_env, run["workflow_id"])
    assert datetime.fromisoformat(state.wait_until) == evening
    assert state.path[-1].outcome == "best time 21:00 Asia/Taipei (the contact's best hour)"

    response = await api.post(f"/v1/journeys/{journey}/simulate", json={"contact_id": f"owl-{unique}"})
    assert response.status_code == 200, response.text
    simulated = response.json()
    [best] = [d for d in simulated["decisions"] if d["kind"] == "best_time"]
    assert (best["node"], best["outcome"]) == ("evening", f"{evening:%Y-%m-%d %H:%M} Asia/Taipei")
    assert best["reason"] == "best time 21:00 Asia/Taipei (the contact's best hour)"
    assert evening <= datetime.fromisoformat(simulated["messages"][0]["at"]) < evening + timedelta(minutes=1)
    profile = await api.post(f"/v1/journeys/{journey}/simulate",
                             json={"contact": {"email": "p@example.com", "time_zone": "Asia/Taipei"}})
    assert profile.status_code == 200, profile.text
    [brand] = [d for d in profile.json()["decisions"] if d["kind"] == "best_time"]
    assert brand["reason"] == f"best time {BRAND_HOUR:02d}:00 Asia/Taipei (the brand's best hour)"



async def test_a_bad_window_is_refused_precisely(api, unique):
    for node, message in (
        (best_time_send(unique, within="30m"), "`within` must be from 1h to 7d (got '30m')"),
        (best_time_send(unique, within="8d"), "`within` must be from 1h to 7d (got '8d')"),
        ({**best_time_send(unique), "at": "tonight"}, "best_time"),
        (best_time_send(unique, transactional=True), "a transactional message goes at once"),
        ({"id": "promo", "type": "wait", "at": "09:00", "within": "2h"}, "`within` goes with `at: best_time`"),
        ({"id": "promo", "type": "wait", "at": "9pm"}, "HH:MM, 00:00 to 23:59 (got '9pm'), or `best_time`"),
    ):
        response = await api.post("/v1/journeys", json={"id": f"bad-{unique}", "definition": at_nine_then(node)})
        assert response.status_code == 422, response.text
        assert message in response.text
        assert "promo" in response.text
