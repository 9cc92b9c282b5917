"""A journey that is a single send goes out in batches from the enrollment's pages, with no
workflow per contact, under the same rules as a run's send: consent, quiet hours in the
contact's zone, frequency caps, one message per key. A message that may not go now is handed
to a run of its own that sleeps until it may, and keeps the batch's key."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from sojourn.contracts.enrollment import EnrollmentInput, EnrollmentProgress
from sojourn.data.models import MailboxMessage, Message
from sojourn.settings import FrequencyCap
from worker.main import journey_worker

from helpers import (
    advance,
    create_active_journey,
    enroll,
    finished,
    progress_until,
    put_contact,
    segment_of,
    single_send,
    wait_for_mail,
    waiting_state,
    zone_at,
)


async def journey_workflows(temporal_env, journey: str) -> list[str]:
    query = f'WorkflowType = "JourneyWorkflow" AND JourneyId = "{journey}"'
    return [w.id async for w in temporal_env.client.list_workflows(query)]


async def test_a_single_send_goes_out_in_batches_under_the_same_rules(api, engine, temporal_env, settings, unique):
    limited = settings.model_copy(update={"quiet_hours": "22:00-08:00",
                                          "frequency_caps": [FrequencyCap(max=1, per="7d")]})
    noon, night = zone_at(12), zone_at(2)
    day = [f"day{n}-{unique}" for n in range(7)]
    for contact in day:
        await put_contact(api, contact, email=f"{contact}@example.com", time_zone=noon, attributes={"club": unique})
    await put_contact(api, f"night-{unique}", email=f"night-{unique}@example.com", time_zone=night,
                      attributes={"club": unique})
    await put_contact(api, f"out-{unique}", email=f"out-{unique}@example.com", time_zone=noon,
                      consent={"email": "unsubscribed"}, attributes={"club": unique})
    await put_contact(api, f"capped-{unique}", email=f"capped-{unique}@example.com", time_zone=noon,
                      attributes={"club": unique, "vip": True})
    for segment, where in ((f"club-{unique}", {"attribute": "club", "value": unique}),
                           (f"vip-{unique}", {"and": [{"attribute": "club", "value": unique},
                                                      {"attribute": "vip", "value": True}]})):
        assert (await api.post("/v1/segments", json={"id": segment, "name": segment, "filter": where})).status_code == 201

    welcome, promo = f"welcome-{unique}", f"promo-{unique}"
    await create_active_journey(api, welcome, single_send("Welcome, VIP", "Today only"))
    await create_active_journey(api, promo, single_send("Double points today", "Today only"))
    async with journey_worker(temporal_env.client, engine, limited):
        # Asked for runs: one workflow per contact, as any journey. It uses up the VIP's weekly cap.
        path = f"/v1/journeys/{welcome}/segment-enrollments"
        await api.post(path, json={"segment": f"vip-{unique}", "enrollment_id": "vip", "delivery": "runs"})
        first = await progress_until(api, f"{path}/vip", "completed")
        assert (first["mode"], first["enrolled"], first["sent"]) == ("runs", 1, 0)
        await wait_for_mail(engine, f"capped-{unique}@example.com")
        assert len(await journey_workflows(temporal_env, welcome)) == 1

        path = f"/v1/journeys/{promo}/segment-enrollments"
        await api.post(path, json={"segment": f"club-{unique}", "enrollment_id": "today", "page_size": 4})
        done = await progress_until(api, f"{path}/today", "completed")
        assert {k: done[k] for k in ("mode", "total", "enrolled", "existing", "failed", "sent", "skipped", "held")} == {
            "mode": "batch", "total": 10, "enrolled": 10, "existing": 0, "failed": 0, "sent": 7, "skipped": 1,
            "held": 2}, done
        for contact in day:
            [mail] = await wait_for_mail(engine, f"{contact}@example.com")
            assert mail["subject"] == "Double points today"

        # Only the two held messages have a run: the night owl's (quiet hours) and the VIP's (cap).
        batch_id = done["workflow_id"]
        held = sorted(await journey_workflows(temporal_env, promo))
        assert held == sorted([f"journey/{promo}/capped-{unique}/today", f"journey/{promo}/night-{unique}/today"])
        owl = await waiting_state(temporal_env, f"journey/{promo}/night-{unique}/today")
        assert owl.batch == batch_id and owl.path[-1].outcome.startswith("deferred until")
        assert f"quiet hours 22:00-08:00 in {night}" in owl.path[-1].outcome
        vip = await waiting_state(temporal_env, f"journey/{promo}/capped-{unique}/today")
        assert "frequency cap: 1 messages per 7d" in vip.path[-1].outcome

        # What happened to whom: a batched contact's run is its message; the skipped one says why.
        sent = (await api.get(f"/v1/journeys/{promo}/runs/{day[0]}")).json()
        assert (sent["delivery"], sent["execution_status"], sent["run_id"]) == ("batch", "COMPLETED", None)
        assert [(m["status"], m["subject"]) for m in sent["state"]["messages"]] == [("sent", "Double points today")]
        out = (await api.get(f"/v1/journeys/{promo}/runs/out-{unique}")).json()
        assert out["state"]["messages"][0]["status"] == "skipped"
        assert "unsubscribed" in out["state"]["messages"][0]["reason"]
        assert (await api.delete(f"/v1/journeys/{promo}/runs/{day[0]}")).status_code == 409
        [entry] = [j for j in (await api.get(f"/v1/contacts/{day[0]}")).json()["journeys"] if j["journey"] == promo]
        assert (entry["status"], entry["batch"]) == ("completed", batch_id)
        assert (await api.get(f"/v1/journeys/{promo}/runs/night-{unique}")).json()["delivery"] == "run"

        # Morning comes for the night owl: the run sends the batch's message, under its key, once.
        wake = datetime.fromisoformat(owl.wait_until) - datetime.now(timezone.utc) + timedelta(minutes=1)
        await advance(temporal_env, f"journey/{promo}/night-{unique}/today", wake)
        assert (await finished(temporal_env, f"journey/{promo}/night-{unique}/today")).messages[0].status == "sent"
        [owl_mail] = await wait_for_mail(engine, f"night-{unique}@example.com")
        assert owl_mail["subject"] == "Double points today"

        # The same enrollment restarted from scratch (a lost history, a second press): nothing twice.
        redo = await temporal_env.client.execute_workflow(
            "EnrollmentWorkflow", EnrollmentInput(journey_id=promo, segment_id=f"club-{unique}", enrollment_id="today",
                                                  task_queue=limited.task_queue, page_size=3),
            id=f"enrollment/{promo}/today-restarted", task_queue=limited.task_queue, result_type=EnrollmentProgress)
        assert (redo.mode, redo.enrolled, redo.existing, redo.sent) == ("batch", 0, 10, 0), redo
        await asyncio.sleep(0.5)

    for contact in (*day, f"night-{unique}"):
        assert len(await wait_for_mail(engine, f"{contact}@example.com", timeout=0.2)) == 1
    assert len(await wait_for_mail(engine, f"capped-{unique}@example.com", timeout=0.2)) == 1  # the welcome only
    assert await wait_for_mail(engine, f"out-{unique}@example.com", timeout=0.2) == []
    async with engine.connect() as conn:
        statuses = sorted((await conn.execute(select(Message.status).where(Message.journey_id == promo))).scalars())
    assert statuses == ["deferred"] + ["sent"] * 8 + ["skipped"]


async def test_a_never_journey_fired_in_batches_lets_nobody_in_twice(api, worker, engine, temporal_env, settings,
                                                                      unique):
    """Scheduled firings enroll unkeyed, so the journey's re-entry rule (`never` here) holds
    across firings and against a direct enrollment, though no workflow carries the entries."""
    journey, segment = f"once-{unique}", f"once-{unique}"
    await segment_of(api, segment, [f"once{n}-{unique}" for n in range(2)])
    await create_active_journey(api, journey, single_send("Only once"))

    async def firing(n: int) -> EnrollmentProgress:
        return await temporal_env.client.execute_workflow(
            "EnrollmentWorkflow", EnrollmentInput(journey_id=journey, segment_id=segment, enrollment_id="",
                                                  task_queue=settings.task_queue, keyed=False),
            id=f"enrollment/{journey}/firing-{n}", task_queue=settings.task_queue, result_type=EnrollmentProgress)

    first, second = await firing(1), await firing(2)
    assert (first.mode, first.sent, first.existing) == ("batch", 2, 0)
    assert (second.mode, second.sent, second.existing) == ("batch", 0, 2)
    [direct] = await enroll(api, journey, f"once0-{unique}")
    assert (direct["status"], direct["workflow_id"]) == ("existing", f"journey/{journey}/once0-{unique}")
    await asyncio.sleep(0.5)
    for n in range(2):
        assert [m["subject"] for m in await wait_for_mail(engine, f"once{n}-{unique}@example.com")] == ["Only once"]
    assert await journey_workflows(temporal_env, journey) == []


async def test_a_batch_waits_for_its_channel_rate_instead_of_handing_over(api, engine, temporal_env, settings, unique):
    """Email limited to 5 a second: the page waits for its slots (heartbeating), so every
    message still goes from the batch, none through a run, and no faster than the limit."""
    limited = settings.model_copy(update={"channel_rates": {"email": 5.0}})
    journey = f"slow-{unique}"
    await segment_of(api, f"slow-{unique}", [f"slow{n}-{unique}" for n in range(12)])
    await create_active_journey(api, journey, single_send(f"Paced {unique}"))
    async with journey_worker(temporal_env.client, engine, limited):
        path = f"/v1/journeys/{journey}/segment-enrollments"
        await api.post(path, json={"segment": f"slow-{unique}", "enrollment_id": "paced"})
        done = await progress_until(api, f"{path}/paced", "completed")
    assert (done["mode"], done["sent"], done["held"], done["failed"]) == ("batch", 12, 0, 0), done
    assert await journey_workflows(temporal_env, journey) == []
    async with engine.connect() as conn:
        received = sorted((await conn.execute(select(MailboxMessage.received_at).where(
            MailboxMessage.subject == f"Paced {unique}"))).scalars())
    # Slots are 0.2 s apart: twelve messages cannot arrive within less than 11 of them.
    assert len(received) == 12 and (received[-1] - received[0]).total_seconds() >= 11 * 0.2 * 0.9
