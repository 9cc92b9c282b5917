"""The interpreter's guarantees: exactly-once sends, restarts, wait_for, absolute waits."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from sojourn.contracts.journey import JourneyState
from sojourn.data.models import Message

from helpers import (
    EVENT_URL,
    add_contact,
    advance,
    create_active_journey,
    enroll,
    finished,
    put_contact,
    tracking_path,
    wait_for_mail,
)


async def _until_at_node(temporal_env, workflow_id: str, node: str, timeout: float = 20.0) -> None:
    handle = temporal_env.client.get_workflow_handle(workflow_id)
    deadline = asyncio.get_running_loop().time() + timeout
    while (await handle.query("state", result_type=JourneyState)).current_node != node:
        assert asyncio.get_running_loop().time() < deadline, f"run never reached node {node!r}"
        await asyncio.sleep(0.1)


def _two_sends(subject: str, wait: dict) -> dict:
    return {"name": "Two sends", "nodes": [
        {"id": "first", "type": "send", "subject": subject, "text": "one", "next": "pause"},
        {"id": "pause", "type": "wait", **wait, "next": "second"},
        {"id": "second", "type": "send", "subject": subject + " again", "text": "two", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def test_a_retried_send_never_sends_twice(api, start_worker, engine, temporal_env, unique):
    """The activity fails after the SMTP server accepted the message; the retry must not resend."""
    failures = []

    async def crash_once(request):
        if not failures:
            failures.append(request.idempotency_key)
            raise RuntimeError("worker lost its connection right after the SMTP server said 250")

    journey = f"once-{unique}"
    email = f"once-{unique}@example.com"
    await create_active_journey(api, journey, _two_sends(f"Only once {unique}", {"duration": "1d"}))
    await add_contact(api, f"once-{unique}", email)
    async with start_worker(after_accepted=crash_once):
        [run] = await enroll(api, journey, f"once-{unique}")
        handle = temporal_env.client.get_workflow_handle(run["workflow_id"])
        await wait_for_mail(engine, email)
        # The retry completes the activity and the run goes on to sleep.
        await _until_at_node(temporal_env, run["workflow_id"], "pause")
        history = await handle.fetch_history()
        failed_attempts = [e for e in history.events if e.HasField("activity_task_started_event_attributes")
                           and e.activity_task_started_event_attributes.attempt > 1]
        assert failed_attempts, "the activity was expected to be retried"
    assert len(failures) == 1
    mail = await wait_for_mail(engine, email, 2, timeout=2)
    assert [m["subject"] for m in mail] == [f"Only once {unique}"]
    async with engine.connect() as conn:
        rows = await conn.scalar(select(func.count()).select_from(Message).where(Message.workflow_id == run["workflow_id"]))
    assert rows == 1


async def test_worker_restarted_mid_wait_finishes_once(api, start_worker, engine, temporal_env, unique):
    journey = f"restart-{unique}"
    email = f"restart-{unique}@example.com"
    await create_active_journey(api, journey, _two_sends(f"Restart {unique}", {"duration": "2d"}))
    await add_contact(api, f"restart-{unique}", email)
    async with start_worker():
        [run] = await enroll(api, journey, f"restart-{unique}")
        await wait_for_mail(engine, email)
        await _until_at_node(temporal_env, run["workflow_id"], "pause")
    # A new worker, with nothing cached, takes over the sleeping run and finishes it.
    async with start_worker():
        await advance(temporal_env, run["workflow_id"], timedelta(days=2, minutes=1))
        handle = temporal_env.client.get_workflow_handle(run["workflow_id"], result_type=JourneyState)
        state = await handle.result()
    assert state.status == "completed"
    mail = await wait_for_mail(engine, email, 3, timeout=2)
    assert [m["subject"] for m in mail] == [f"Restart {unique}", f"Restart {unique} again"]


async def test_wait_until_an_absolute_time(api, worker, engine, temporal_env, unique):
    journey = f"until-{unique}"
    email = f"until-{unique}@example.com"
    until = (datetime.now(timezone.utc) + timedelta(days=10)).astimezone(timezone(timedelta(hours=8)))
    await create_active_journey(api, journey, _two_sends(f"Until {unique}", {"until": until.isoformat()}))
    await add_contact(api, f"until-{unique}", email)
    [run] = await enroll(api, journey, f"until-{unique}")
    await wait_for_mail(engine, email)
    state = (await api.get(f"/v1/journeys/{journey}/runs/until-{unique}")).json()["state"]
    assert state["current_node"] == "pause"
    assert abs(datetime.fromisoformat(state["wait_until"]) - until) < timedelta(seconds=1)
    await advance(temporal_env, run["workflow_id"], timedelta(days=10, minutes=1))
    mail = await wait_for_mail(engine, email, 2)
    assert [m["subject"] for m in mail] == [f"Until {unique}", f"Until {unique} again"]


def _click_or_nudge(unique: str) -> dict:
    return {"name": "Click or nudge", "nodes": [
        {"id": "offer", "type": "send", "subject": f"Offer {unique}",
         "html": f'<a href="{EVENT_URL}">Shop</a> or <a href="https://shop.example/other">other</a>', "next": "clicked"},
        {"id": "clicked", "type": "wait_for", "event": {"clicked": "offer", "link": EVENT_URL}, "timeout": "3d",
         "on_event": "thanks", "on_timeout": "nudge"},
        {"id": "thanks", "type": "send", "subject": f"Thanks for looking {unique}", "text": "ok", "next": "end"},
        {"id": "nudge", "type": "send", "subject": f"Still interested? {unique}", "text": "hm", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def test_wait_for_a_click_or_time_out(api, worker, engine, temporal_env, unique):
    journey = f"waitfor-{unique}"
    await create_active_journey(api, journey, _click_or_nudge(unique))
    for name in ("fast", "slow"):
        await add_contact(api, f"{name}-{unique}", f"{name}-{unique}@example.com")
    runs = {r["contact"]: r["workflow_id"] for r in await enroll(api, journey, f"fast-{unique}", f"slow-{unique}")}
    fast = (await wait_for_mail(engine, f"fast-{unique}@example.com"))[0]
    slow = (await wait_for_mail(engine, f"slow-{unique}@example.com"))[0]

    # A click on the other link does not satisfy the wait; the event link does, at once.
    other_link = fast["html"].split('href="')[2].split('"')[0].replace("http://sojourn.test", "")
    assert (await api.get(other_link, follow_redirects=False)).headers["location"] == "https://shop.example/other"
    assert (await api.get(tracking_path(fast["html"], "c"), follow_redirects=False)).status_code == 302
    fast_mail = await wait_for_mail(engine, f"fast-{unique}@example.com", 2)
    assert [m["subject"] for m in fast_mail] == [f"Offer {unique}", f"Thanks for looking {unique}"]

    state = (await api.get(f"/v1/journeys/{journey}/runs/slow-{unique}")).json()["state"]
    assert state["current_node"] == "clicked" and state["wait_until"] is not None
    await advance(temporal_env, runs[f"slow-{unique}"], timedelta(days=3, minutes=1))
    slow_mail = await wait_for_mail(engine, f"slow-{unique}@example.com", 2)
    assert [m["subject"] for m in slow_mail] == [f"Offer {unique}", f"Still interested? {unique}"]
    assert slow["subject"] == f"Offer {unique}"


async def test_a_template_doing_too_much_for_a_contact_fails_its_send_and_the_run_moves_on(
        api, worker, engine, temporal_env, unique):
    journey = f"costly-{unique}"
    email = f"costly-{unique}@example.com"
    # Passes validation (without a contact's data the loops do nothing), but this contact's
    # 1,000 tags make a million steps.
    pairs = "{% for a in contact.tags %}{% for b in contact.tags %}{{ a }}{{ b }}{% endfor %}{% endfor %}"
    await create_active_journey(api, journey, {"name": "Costly", "nodes": [
        {"id": "digest", "type": "send", "subject": "Your tags", "text": pairs, "next": "end",
         "on_failure": "plain"},
        {"id": "plain", "type": "send", "subject": f"Plain {unique}", "text": "Hello", "next": "end"},
        {"id": "end", "type": "exit"},
    ]})
    await put_contact(api, f"costly-{unique}", email=email, attributes={"tags": [f"t{i}" for i in range(1000)]})
    [run] = await enroll(api, journey, f"costly-{unique}")
    state = await finished(temporal_env, run["workflow_id"])

    assert [(m.node, m.status) for m in state.messages] == [("digest", "failed"), ("plain", "sent")]
    assert "template does more than 100,000 steps" in state.messages[0].reason
    assert [step.node for step in state.path] == ["digest", "plain", "end"]
    async with engine.connect() as conn:
        error = (await conn.execute(select(Message.error).where(
            Message.journey_id == journey, Message.node_id == "digest"))).scalar_one()
    assert error == "template: template does more than 100,000 steps"
    [mail] = await wait_for_mail(engine, email)
    assert mail["subject"] == f"Plain {unique}"
