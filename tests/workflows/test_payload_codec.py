"""The contact payload codec: what it encrypts, what it leaves plain, and how soon a destroyed
key stops decoding in a process that had it cached."""

from __future__ import annotations

import asyncio
import base64

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from sojourn.contracts.enrollment import enrollment_workflow_id
from sojourn.contracts.journey import journey_workflow_id
from sojourn.data import contact_keys
from sojourn.data.contact_keys import ContactKeys
from sojourn.services.payload_codec import ENCODING, KEY_ID, ContactPayloadCodec, PayloadKeyDestroyed
from sojourn.settings import Settings

from helpers import statements_run

MASTER = base64.b64decode(Settings().payload_master_key)


def _codec(keys: ContactKeys, workflow_id: str) -> ContactPayloadCodec:
    return ContactPayloadCodec(keys).with_context(WorkflowSerializationContext(namespace="default",
                                                                               workflow_id=workflow_id))


def _json(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_journey_payloads_are_sealed_with_the_contacts_key_and_others_stay_plain(engine, unique):
    keys = ContactKeys(engine, MASTER, cache_size=10, ttl=60)
    secret = _json(f"ann-{unique}@example.com")
    run = _codec(keys, journey_workflow_id("welcome", f"ann-{unique}", "cart/42"))
    [sealed] = await run.encode([secret])
    assert sealed.metadata["encoding"] == ENCODING and secret.data not in sealed.data
    assert sealed.metadata[KEY_ID].decode() == (await keys.for_contact(f"ann-{unique}"))[0]
    assert await run.decode([sealed]) == [secret]
    # An activity of the run uses the same key; another contact's run does not.
    activity = ContactPayloadCodec(keys).with_context(ActivitySerializationContext(
        namespace="default", activity_id="1", activity_type="send", activity_task_queue="q",
        workflow_id=journey_workflow_id("welcome", f"ann-{unique}"), workflow_type="JourneyWorkflow", is_local=False))
    assert (await activity.encode([secret]))[0].metadata[KEY_ID] == sealed.metadata[KEY_ID]
    other = await _codec(keys, journey_workflow_id("welcome", f"bob-{unique}")).encode([secret])
    assert other[0].metadata[KEY_ID] != sealed.metadata[KEY_ID]

    # None holds nothing to protect: it stays plain, beside a payload that is sealed.
    nothing = Payload(metadata={"encoding": b"binary/null"})
    kept, sealed_again = await run.encode([nothing, secret])
    assert kept == nothing and sealed_again.metadata["encoding"] == ENCODING
    assert await run.decode([kept, sealed_again]) == [nothing, secret]

    enrollment = _codec(keys, enrollment_workflow_id("welcome", unique))
    assert await enrollment.encode([secret]) == [secret]
    # Payloads written before the codec (no encrypted encoding) read as they are, in any run.
    assert await run.decode([secret]) == [secret]


async def test_a_key_destroyed_elsewhere_stops_decoding_within_the_cache_ttl(engine, unique):
    writer = ContactKeys(engine, MASTER, cache_size=10, ttl=60)
    reader = ContactKeys(engine, MASTER, cache_size=10, ttl=0.5)  # another process
    contact = f"gone-{unique}"
    [sealed] = await _codec(writer, journey_workflow_id("welcome", contact)).encode([_json("x")])
    assert await _codec(reader, "any").decode([sealed]) == [_json("x")]

    async with AsyncSession(engine) as session:
        await contact_keys.destroy(session, contact)
        await session.commit()
    writer.forget(contact)
    with pytest.raises(PayloadKeyDestroyed, match="contact was erased"):
        await _codec(writer, "any").decode([sealed])  # the erasing process: at once
    await asyncio.sleep(0.6)
    with pytest.raises(PayloadKeyDestroyed):
        await _codec(reader, "any").decode([sealed])  # others: once their cached copy expires


async def test_a_key_read_to_decode_seals_the_contacts_next_payloads_without_another_read(engine, unique):
    """A worker decodes a run's input (by key id), then seals the run's results (by contact)."""
    contact = f"both-{unique}"
    [sealed] = await _codec(ContactKeys(engine, MASTER, cache_size=10, ttl=60),
                            journey_workflow_id("welcome", contact)).encode([_json("input")])
    worker = ContactKeys(engine, MASTER, cache_size=10, ttl=60)
    with statements_run(engine) as statements:
        run = _codec(worker, journey_workflow_id("welcome", contact))
        assert await run.decode([sealed]) == [_json("input")]
        [result] = await run.encode([_json("result")])
    assert result.metadata[KEY_ID] == sealed.metadata[KEY_ID]
    assert len(statements) == 1, statements


async def test_keys_for_many_contacts_are_read_and_created_together(engine, unique):
    """Enrolling contacts seals each run's input: their keys are read, and the missing ones
    created, in three statements for the whole batch; keys that exist are kept."""
    known = [f"known-{unique}-{n}" for n in range(2)]
    writer = ContactKeys(engine, MASTER, cache_size=100, ttl=60)
    existing = {contact: (await writer.for_contact(contact))[0] for contact in known}
    contacts = known + [f"new-{unique}-{n}" for n in range(5)]
    enroller = ContactKeys(engine, MASTER, cache_size=100, ttl=60)
    with statements_run(engine) as statements:
        await enroller.ensure(contacts)
        ids = {contact: (await enroller.for_contact(contact))[0] for contact in contacts}
    assert len(statements) == 3, statements
    assert {contact: ids[contact] for contact in known} == existing
    # Another process finds the same new keys.
    assert {contact: (await writer.for_contact(contact))[0] for contact in contacts} == ids
