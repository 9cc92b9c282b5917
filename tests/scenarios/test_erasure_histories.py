"""Erasure leaves nothing readable in Temporal: a contact's journey payloads are encrypted with
its own key, which erasure destroys (crypto-shredding)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowExecutionStatus, WorkflowHistory
from temporalio.converter import WorkflowSerializationContext

from sojourn.contracts.journey import JourneyInput, JourneyState, journey_workflow_id
from sojourn.data.models import Contact
from sojourn.services.payload_codec import KEY_ID, PayloadKeyDestroyed
from workflows.journey import JourneyWorkflow

from helpers import create_active_journey, enroll, wait_for_mail


def _journey(subject: str) -> dict:
    return {"name": "Shredded", "nodes": [
        {"id": "hello", "type": "send", "subject": subject + " {{ contact.city }}",
         "text": "Hello {{ first_name }}", "next": "pause"},
        {"id": "pause", "type": "wait", "duration": "7d", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


def _payloads(history: WorkflowHistory) -> list[Payload]:
    """The run's input and every activity's input and result."""
    found = []
    for event in history.events:
        found += event.workflow_execution_started_event_attributes.input.payloads
        found += event.activity_task_scheduled_event_attributes.input.payloads
        found += event.activity_task_completed_event_attributes.result.payloads
    return found


async def test_erasure_leaves_the_runs_history_unreadable(api, engine, worker, temporal_env, temporal_server,
                                                          unique):
    contact, email, city = f"shred-{unique}", f"shred-{unique}@example.com", f"Kaohsiung-{unique}"
    put = await api.put(f"/v1/contacts/{contact}", json={
        "email": email, "first_name": "Ann", "attributes": {"city": city}})
    assert put.status_code == 201
    journey = f"shred-{unique}"
    await create_active_journey(api, journey, _journey(f"Hi {unique}"))
    [run] = await enroll(api, journey, contact)
    [mail] = await wait_for_mail(engine, email)
    assert city in mail["subject"]

    raw = temporal_server.client  # no codec
    handle = raw.get_workflow_handle(run["workflow_id"], run_id=run["run_id"])
    context = WorkflowSerializationContext(namespace=raw.namespace, workflow_id=run["workflow_id"])
    codec = temporal_env.client.data_converter.payload_codec.with_context(context)

    # While the contact exists, its key reads the history: the send's result names the address.
    history = await handle.fetch_history()
    sealed = _payloads(history)
    assert sealed and all(KEY_ID in p.metadata for p in sealed)
    readable = b"".join(p.data for p in await codec.decode(sealed))
    assert email.encode() in readable and city.encode() in readable

    assert (await api.delete(f"/v1/contacts/{contact}")).status_code == 204
    assert (await handle.describe()).status in (WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.TERMINATED)

    history = await handle.fetch_history()
    stored = b"".join(event.SerializeToString() for event in history.events)
    for personal in (email, city, "Ann"):
        assert personal.encode() not in stored
    # Nobody can decode it any more, this process's key cache included.
    with pytest.raises(PayloadKeyDestroyed, match="contact was erased"):
        await codec.decode(_payloads(history))
    async with engine.connect() as conn:
        keys = (await conn.exec_driver_sql("SELECT count(*) FROM contact_keys WHERE external_id = $1",
                                           (contact,))).scalar_one()
    assert keys == 0


async def test_a_run_started_before_the_codec_keeps_running_and_seals_what_comes_next(
        api, engine, worker, settings, temporal_env, temporal_server, unique):
    contact, email = f"old-{unique}", f"old-{unique}@example.com"
    assert (await api.put(f"/v1/contacts/{contact}", json={"email": email, "first_name": "Ann"})).status_code == 201
    journey = f"old-{unique}"
    definition = {"name": "Old", "nodes": [
        {"id": "hello", "type": "send", "subject": "Hi", "text": "Hello {{ first_name }}", "next": "end"},
        {"id": "end", "type": "exit"}]}
    await create_active_journey(api, journey, definition)
    async with engine.connect() as conn:
        contact_id = (await conn.execute(select(Contact.id).where(Contact.external_id == contact))).scalar_one()
    # Started as a client without the codec did: its input is plain in the history.
    started = await temporal_server.client.start_workflow(
        JourneyWorkflow.run, JourneyInput(journey_id=journey, version=1, contact_id=contact_id,
                                          contact_external_id=contact, definition=definition),
        id=journey_workflow_id(journey, contact), task_queue=settings.task_queue)

    state = await temporal_env.client.get_workflow_handle(started.id, result_type=JourneyState).result()
    assert [m.recipient for m in state.messages] == [email]
    history = await started.fetch_history()
    [plain] = history.events[0].workflow_execution_started_event_attributes.input.payloads
    assert KEY_ID not in plain.metadata
    results = [p for e in history.events for p in e.activity_task_completed_event_attributes.result.payloads]
    assert results and all(KEY_ID in p.metadata for p in results)
