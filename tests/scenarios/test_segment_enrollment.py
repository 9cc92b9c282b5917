"""A one-off send to a segment ("new store in Kaohsiung"): an enrollment workflow pages the
audience, can be paused and resumed, reports its progress, and never enrolls anyone twice."""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from sqlalchemy import select

from api.app import create_app
from sojourn.contracts.enrollment import EnrollmentInput, EnrollmentProgress
from sojourn.data.models import MailboxMessage
from sojourn.dev.postgres import free_port
from worker.main import journey_worker

from helpers import (
    API_KEY,
    create_active_journey,
    progress_until,
    put_contact,
    segment_of,
    single_send,
    wait_for_mail,
)


async def test_new_store_send_to_a_segment_in_pages(api, engine, temporal_env, settings, unique):
    locals_ = [f"khh{n}-{unique}" for n in range(10)]
    for n, contact in enumerate(locals_):
        await put_contact(api, contact, email=f"{contact}@example.com", attributes={"city": "Kaohsiung", "batch": unique})
    await put_contact(api, f"tpe-{unique}", email=f"tpe-{unique}@example.com", attributes={"city": "Taipei", "batch": unique})
    segment = {"and": [{"attribute": "batch", "value": unique}, {"attribute": "city", "value": "Kaohsiung"}]}
    assert (await api.post("/v1/segments", json={"id": f"khh-{unique}", "name": "Kaohsiung", "filter": segment})
            ).status_code == 201
    journey = f"new-store-{unique}"
    await create_active_journey(api, journey, {"name": "New store", "nodes": [
        {"id": "announce", "type": "send", "subject": "Our new Kaohsiung store is open", "text": "Come by!",
         "next": "end"}, {"id": "end", "type": "exit"}]})
    path = f"/v1/journeys/{journey}/segment-enrollments"

    # Paused before any worker picks it up: it counts its audience, then waits.
    started = await api.post(path, json={"segment": f"khh-{unique}", "enrollment_id": "opening", "page_size": 4})
    assert started.status_code == 202, started.text
    assert (await api.post(f"{path}/opening/pause")).status_code == 202
    async with journey_worker(temporal_env.client, engine, settings):
        paused = await progress_until(api, f"{path}/opening", "paused")
        assert (paused["status"], paused["total"], paused["enrolled"]) == ("paused", 10, 0)
        await api.post(f"{path}/opening/resume")
        done = await progress_until(api, f"{path}/opening", "completed")
        assert (done["total"], done["enrolled"], done["existing"], done["failed"]) == (10, 10, 0, 0), done
        for contact in locals_:
            [mail] = await wait_for_mail(engine, f"{contact}@example.com")
            assert mail["subject"] == "Our new Kaohsiung store is open"

        # Posting the same enrollment again is the same enrollment.
        again = await api.post(path, json={"segment": f"khh-{unique}", "enrollment_id": "opening"})
        assert again.json()["workflow_id"] == done["workflow_id"] and again.json()["enrolled"] == 10
        # An enrollment restarted from scratch under the same id finds every run already there.
        redo = await temporal_env.client.execute_workflow(
            "EnrollmentWorkflow", EnrollmentInput(journey_id=journey, segment_id=f"khh-{unique}",
                                                  enrollment_id="opening", task_queue=settings.task_queue, page_size=3),
            id=f"enrollment/{journey}/opening-restarted", task_queue=settings.task_queue,
            result_type=EnrollmentProgress)
        assert (redo.enrolled, redo.existing) == (0, 10)
        await asyncio.sleep(1)
    for contact in locals_:
        assert len(await wait_for_mail(engine, f"{contact}@example.com", timeout=0.2)) == 1
    assert await wait_for_mail(engine, f"tpe-{unique}@example.com", timeout=0.2) == []

    assert (await api.get(f"{path}/nope")).status_code == 404
    missing = await api.post(path, json={"segment": "no-such-segment"})
    assert missing.status_code == 404 and "no-such-segment" in missing.json()["error"]["message"]


async def test_the_enroll_segment_command_follows_the_enrollment(api, worker, engine, temporal_env, settings, unique):
    contacts = [f"cli{n}-{unique}" for n in range(6)]
    await segment_of(api, f"cli-{unique}", contacts)
    journey = f"cli-send-{unique}"
    await create_active_journey(api, journey, single_send("Hello", "Hi"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, temporal=temporal_env.client), host="127.0.0.1",
                                           port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sojourn.cli", "enroll-segment", journey, f"cli-{unique}", "--id", "first",
            "--page-size", "2", "--api", f"http://127.0.0.1:{port}", "--key", API_KEY,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        server.should_exit = True
        await serving
    assert process.returncode == 0, (out, err)
    assert "100%" in err.decode() and "6/6 contacts" in err.decode()
    assert out.decode().strip().splitlines() == ["first: completed, 6 enrolled, 0 already enrolled, 0 failed",
                                                 "sent in batches: 6 sent, 0 skipped, 0 held for later by a run each"]
    for contact in contacts:
        await wait_for_mail(engine, f"{contact}@example.com")


async def test_an_enrollment_continues_as_new_and_keeps_its_counts(api, worker, engine, temporal_env, unique):
    """More pages than one history holds (100): the workflow continues as new, carrying where it
    was and what it counted; everybody gets exactly one message."""
    people = [f"big{n:03d}-{unique}" for n in range(103)]
    await segment_of(api, f"big-{unique}", people)
    journey = f"big-{unique}"
    await create_active_journey(api, journey, single_send(f"Big {unique}"))
    path = f"/v1/journeys/{journey}/segment-enrollments"
    await api.post(path, json={"segment": f"big-{unique}", "enrollment_id": "pages", "page_size": 1})
    done = await progress_until(api, f"{path}/pages", "completed", timeout=120)
    assert (done["total"], done["enrolled"], done["sent"], done["existing"]) == (103, 103, 103, 0), done
    runs = [w.status.name async for w in temporal_env.client.list_workflows(
        f'WorkflowId = "enrollment/{journey}/pages"')]
    assert sorted(runs) == ["COMPLETED", "CONTINUED_AS_NEW"]
    async with engine.connect() as conn:
        mails = (await conn.execute(select(MailboxMessage.rcpt_to).where(MailboxMessage.subject == f"Big {unique}"))
                 ).scalars().all()
    assert sorted(to[0] for to in mails) == [f"{contact}@example.com" for contact in people]
