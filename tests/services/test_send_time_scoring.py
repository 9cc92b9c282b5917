"""score_send_time against real Postgres, on planted habits: a contact who always opens at 21:00
Taipei gets 21, one who opens at 07:00 New York gets 7 (their own zone), one open barely moves a
contact off the brand's hour, link scanners and test sends count for nothing, the model is used
because it beats the brand's hour on the later window, and a day scored again changes nothing."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import text

from sojourn.services.send_time import score_send_time

TAIPEI = ZoneInfo("Asia/Taipei")


async def contact(conn, unique: str, name: str, time_zone: str | None = None) -> int:
    return await conn.scalar(text("INSERT INTO contacts (external_id, time_zone) VALUES (:e, :z) RETURNING id"),
                             {"e": f"{name}-{unique}", "z": time_zone})


async def engaged(conn, contact_id: int, at: datetime, *, kind: str = "opened", automated: bool = False,
                  test: bool = False, repeats: int = 1) -> None:
    """One message to the contact, engaged with at `at` (and `repeats` - 1 more times an hour later)."""
    message = uuid.uuid4()
    await conn.execute(text(
        "INSERT INTO messages (id, idempotency_key, workflow_id, journey_id, journey_version, node_id, contact_id,"
        " channel, links, status, transactional, priority, created_at, test)"
        " VALUES (:id, :key, 'w', 'j', 1, 'n', :c, 'email', '[]', 'sent', false, 0, :at, :test)"),
        {"id": message, "key": str(message), "c": contact_id, "at": at - timedelta(minutes=5), "test": test})
    for n in range(repeats):
        await conn.execute(text(
            "INSERT INTO engagement_events (message_id, type, source, occurred_at, received_at, automated)"
            " VALUES (:m, :t, 'pixel', :at, :at, :a)"),
            {"m": message, "t": kind, "at": at + timedelta(hours=n), "a": automated})


def local(day: datetime, hour: int, zone: ZoneInfo = TAIPEI) -> datetime:
    return datetime.combine(day.astimezone(zone).date(), datetime.min.time(), tzinfo=zone).replace(hour=hour,
                                                                                                 minute=17)


async def test_planted_habits_become_best_hours_and_a_rerun_changes_nothing(engine, settings, unique):
    rng = random.Random(unique)
    # Far from every other test's data, and its own day: a version per (model, as_of).
    as_of = datetime(2024, 6, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(86_400))
    settings = settings.model_copy(update={"brand_time_zone": "Asia/Taipei", "prediction_chunk_contacts": 100,
                                           "send_time_prior_strength": 5.0})
    days = [as_of - timedelta(days=d) for d in range(1, 120)]
    later_days = [d for d in days if d >= as_of - timedelta(days=settings.send_time_holdout_days)]
    earlier_days = [d for d in days if d not in later_days]
    async with engine.begin() as conn:
        crowd = [await contact(conn, unique, f"crowd{n}") for n in range(120)]  # the brand: 10:00 Taipei
        for person in crowd:
            for day in rng.sample(earlier_days, 4) + rng.sample(later_days, 1):
                await engaged(conn, person, local(day, 10))
        habits = {await contact(conn, unique, f"habit{n}"): (n * 5) % 24 for n in range(60)}
        for person, hour in habits.items():  # each keeps their own hour, earlier and later
            for day in rng.sample(earlier_days, 5) + rng.sample(later_days, 2):
                await engaged(conn, person, local(day, hour))
        owl = await contact(conn, unique, "owl", "Asia/Taipei")
        for day in rng.sample(earlier_days, 6) + rng.sample(later_days, 2):
            await engaged(conn, owl, local(day, 21), repeats=3)  # re-opens count once a message
        await engaged(conn, owl, local(days[3], 4), automated=True, kind="clicked")  # a link scanner
        await engaged(conn, owl, local(days[4], 5), test=True)  # a test send to staff
        early = await contact(conn, unique, "early", "America/New_York")
        for day in rng.sample(earlier_days, 8):
            await engaged(conn, early, local(day, 7, ZoneInfo("America/New_York")))
        once = await contact(conn, unique, "once")
        await engaged(conn, once, local(days[50], 15))
        await engaged(conn, once, local(days[40], 15) - timedelta(days=200))  # before the lookback
        await engaged(conn, once, as_of + timedelta(hours=1))  # after the cut-off
        silent = await contact(conn, unique, "silent", "Asia/Taipei")

    run = await score_send_time(engine, as_of, settings)
    assert run.model == "send_time" and run.version is not None and run.reason is None, run
    assert run.metrics["hit_rate"] > run.metrics["baseline_hit_rate"]
    stored = await predictions(engine, [owl, early, once, silent, *habits])
    assert stored[owl]["send_time.best_hour"] == 21
    assert stored[early]["send_time.best_hour"] == 7
    assert stored[once]["send_time.best_hour"] == 10  # the brand's hour, one open at 15:00 notwithstanding
    assert stored[once]["send_time.confidence"] < 0.2 < stored[owl]["send_time.confidence"]
    assert silent not in stored  # no opens: the brand's hour at send time, nothing stored
    assert {stored[person]["send_time.best_hour"] for person in habits} == set(habits.values())
    async with engine.connect() as conn:
        params = (await conn.execute(text("SELECT params, used FROM prediction_models WHERE name = 'send_time'"
                                          " AND as_of = :a"), {"a": as_of})).one()
    assert params.used and params.params["brand_hour"] == 10

    again = await score_send_time(engine, as_of, settings)
    assert (again.version, again.changed, again.contacts) == (run.version, 0, run.contacts)


async def test_without_later_opens_the_model_is_recorded_unused(engine, settings, unique):
    as_of = datetime(2023, 3, 1, tzinfo=timezone.utc) + timedelta(seconds=random.Random(unique).randrange(86_400))
    async with engine.begin() as conn:
        person = await contact(conn, unique, "lonely")
        await engaged(conn, person, as_of - timedelta(days=60))
    run = await score_send_time(engine, as_of, settings)
    assert run.version is None and run.changed == 0 and "no opens" in run.reason
    assert await predictions(engine, [person]) == {}


async def predictions(engine, contact_ids: list[int]) -> dict[int, dict[str, float]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT contact_id, name, value FROM contact_predictions"
                                        " WHERE contact_id = ANY(:ids) AND name LIKE 'send_time.%'"),
                                   {"ids": contact_ids})).all()
    found: dict[int, dict[str, float]] = {}
    for row in rows:
        found.setdefault(row.contact_id, {})[row.name] = row.value
    return found


async def test_the_brands_hour_comes_from_the_newest_version_fitted_before_the_decision(engine, unique, settings):
    """A version dated after the moment a run decides (a future day scored on a skipped test clock)
    is not yet the brand's hour."""
    from sojourn.services.best_send_time import BestSendTimes

    rng = random.Random(unique)
    now = datetime(2031, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(365 * 86_400))
    version = 500_000 + rng.randrange(400_000)
    async with engine.begin() as conn:
        for offset, (as_of, hour) in enumerate(((now - timedelta(seconds=1), 8), (now + timedelta(seconds=1), 3))):
            await conn.execute(text(
                "INSERT INTO prediction_models (name, version, as_of, params, metrics, used)"
                " VALUES ('send_time', :v, :a, :p, '{}', true)"),
                {"v": version + offset, "a": as_of, "p": f'{{"brand_hour": {hour}}}'})
    best = await BestSendTimes(engine, settings).of_profile("Asia/Taipei", now, "24h")
    assert (best.hour, best.source) == (8, "brand")
