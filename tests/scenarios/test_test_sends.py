"""POST /v1/journeys/{id}/nodes/{node}/test-send: one node's message, rendered for a contact, sent
through its real channel to the tester's address, recorded as a test that nothing counts."""

from __future__ import annotations

from sqlalchemy import select

from sojourn.data.models import Message
from sojourn.settings import FrequencyCap
from worker.main import journey_worker

from helpers import add_contact, create_active_journey, enroll, wait_for_mail


def welcome(unique: str) -> dict:
    return {"name": "Welcome", "nodes": [
        {"id": "hello", "type": "send", "subject": "Hello {{ first_name }} " + unique,
         "text": "Welcome, {{ first_name }}.", "next": "wait"},
        {"id": "wait", "type": "wait", "duration": "1d", "next": "end"},
        {"id": "end", "type": "exit"}]}


async def test_a_test_send_reaches_the_tester_and_counts_nowhere(api, engine, temporal_env, settings, unique):
    capped = settings.model_copy(update={"frequency_caps": [FrequencyCap(max=1, per="1d")]})
    journey, contact, tester = f"trial-{unique}", f"cy-{unique}", f"tester-{unique}@example.com"
    await create_active_journey(api, journey, welcome(unique))
    await add_contact(api, contact, f"cy-{unique}@example.com", "Cy")
    funnel = (await api.get(f"/v1/journeys/{journey}/funnel")).json()
    usage = (await api.get("/v1/usage", params={"group_by": "journey"})).json()

    response = await api.post(f"/v1/journeys/{journey}/nodes/hello/test-send", json={"contact_id": contact,
                                                                                     "to": tester})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["channel"], answer["to"], answer["recorded"]) == ("sent", "email", tester, True)
    assert answer["subject"] == f"Hello Cy {unique}" and "Welcome, Cy." in answer["payload"]["text"]
    [mail] = await wait_for_mail(engine, tester)
    assert mail["subject"] == f"Hello Cy {unique}"
    async with engine.connect() as conn:
        [recorded] = (await conn.execute(select(Message).where(Message.journey_id == journey))).all()
    assert (recorded.test, recorded.status, recorded.recipient, str(recorded.id)) == (
        True, "sent", tester, answer["message_id"])
    assert (await api.get(f"/v1/journeys/{journey}/funnel")).json() == funnel
    after = (await api.get("/v1/usage", params={"group_by": "journey"})).json()
    assert [r for r in after["rows"] if r["journey"] == journey] == [
        r for r in usage["rows"] if r["journey"] == journey] == []

    # The contact's own message goes at once: the test took no room under the cap.
    async with journey_worker(temporal_env.client, engine, capped):
        await enroll(api, journey, contact)
        [own] = await wait_for_mail(engine, f"cy-{unique}@example.com")
    assert own["subject"] == f"Hello Cy {unique}"


async def test_a_profile_is_rendered_and_sent_but_not_recorded(api, engine, unique):
    journey, tester = f"trial-p-{unique}", f"tester-p-{unique}@example.com"
    await create_active_journey(api, journey, welcome(unique))
    response = await api.post(f"/v1/journeys/{journey}/nodes/hello/test-send",
                              json={"contact": {"first_name": "Dee"}, "to": tester})
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] is False and response.json()["message_id"] is None
    [mail] = await wait_for_mail(engine, tester)
    assert mail["subject"] == f"Hello Dee {unique}"


async def test_a_test_send_refuses_precisely(api, unique):
    journey = f"trial-bad-{unique}"
    await create_active_journey(api, journey, welcome(unique))
    await add_contact(api, f"ed-{unique}", f"ed-{unique}@example.com")
    cases = [
        ("hello", {"contact_id": f"ed-{unique}", "to": "not an address"}, "to"),
        ("hello", {"contact_id": f"ed-{unique}", "to": "+15555550100", "channel": "sms"}, "channel"),
        ("wait", {"contact_id": f"ed-{unique}", "to": "a@example.com"}, "not_a_send_node"),
        ("hello", {"to": "a@example.com"}, "contact_id"),
    ]
    for node, body, named in cases:
        response = await api.post(f"/v1/journeys/{journey}/nodes/{node}/test-send", json=body)
        assert response.status_code == 422, (body, response.text)
        assert named in response.text, (named, response.text)
