"""Temporal payloads of a contact's journey runs encrypted with that contact's data key, so that
erasure (which destroys the key) leaves nothing readable in the histories Temporal retains.

Every client (worker, API, benches) connects through `connect`, or wraps a client it was handed
with `with_codec`. A journey run's payloads (its input, activity inputs and results, signals,
query answers, and failure messages with their stack traces) are sealed with AES-GCM under the
contact's key, named by the key id in their metadata. Enrollment and tagging workflows carry ids,
counts and short error summaries, no contact's attributes or content: their payloads, like
search attributes, stay plain. A payload without the encrypted encoding (written before this codec, or by another
workflow) decodes as it is, so recorded histories and running workflows keep working."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence

from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)

from sojourn.contracts.journey import contact_of_workflow_id
from sojourn.data.contact_keys import NONCE_BYTES, ContactKeys
from sojourn.errors import NotFound
from sojourn.settings import Settings

ENCODING = b"binary/sojourn-encrypted"
# None (an activity with no result, such as each step write) has no data to protect: sealing it
# would add a key lookup, an encryption and about a hundred bytes to the run's history.
_NOTHING = b"binary/null"
KEY_ID = "sojourn-key-id"


class PayloadKeyDestroyed(NotFound):
    code = "payload_key_destroyed"


class ContactPayloadCodec(PayloadCodec, WithSerializationContext):
    """Without a context, or for a workflow that is not a journey run, payloads pass unchanged."""

    def __init__(self, keys: ContactKeys, contact: str | None = None) -> None:
        self.keys = keys
        self._contact = contact

    def with_context(self, context: SerializationContext) -> ContactPayloadCodec:
        workflow_id = getattr(context, "workflow_id", None)
        return ContactPayloadCodec(self.keys, contact_of_workflow_id(workflow_id) if workflow_id else None)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self._contact is None or all(payload.metadata.get("encoding") == _NOTHING for payload in payloads):
            return list(payloads)
        key_id, cipher = await self.keys.for_contact(self._contact)
        sealed = []
        for payload in payloads:
            if payload.metadata.get("encoding") == _NOTHING:
                sealed.append(payload)
                continue
            nonce = os.urandom(NONCE_BYTES)
            data = nonce + cipher.encrypt(nonce, payload.SerializeToString(), key_id.encode())
            sealed.append(Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=data))
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await self.decode_one(payload) for payload in payloads]

    async def decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata[KEY_ID].decode()
        cipher = await self.keys.by_id(key_id)
        if cipher is None:
            raise PayloadKeyDestroyed(
                f"payload encrypted with key {key_id}, which no longer exists: its contact was erased")
        plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
        return Payload.FromString(plain)


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """Pydantic's converter writes the same JSON as the default one, but reads a dataclass through
    a validator built once per type, where the default one walks its type hints for every payload:
    a journey run's inputs and results convert in 0.2 ms instead of 2.6 ms. It keeps its validators
    per instance, and the worker makes an instance for every run it caches: each run built and kept
    its own (90 KB per cached run in bench/memory.py). Every instance here shares the first's."""

    _shared: dict | None = None

    def __init__(self) -> None:
        if SharedPydanticPayloadConverter._shared is None:
            super().__init__()
            SharedPydanticPayloadConverter._shared = dict(self.converters)
        else:
            CompositePayloadConverter.__init__(self, *SharedPydanticPayloadConverter._shared.values())


def data_converter(keys: ContactKeys) -> DataConverter:
    # Failure messages and stack traces become payloads too, so the codec seals them: a provider's
    # refusal may quote the contact's address or number.
    return DataConverter(payload_converter_class=SharedPydanticPayloadConverter,
                         payload_codec=ContactPayloadCodec(keys),
                         failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


async def connect(settings: Settings, engine: AsyncEngine) -> Client:
    """A Temporal client whose payloads go through the contact codec (keys read through `engine`)."""
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=data_converter(ContactKeys.from_settings(engine, settings)))


def with_codec(client: Client, engine: AsyncEngine, settings: Settings) -> Client:
    """The same connection as `client`, with the contact codec (for a client made elsewhere)."""
    return Client(**{**client.config(), "data_converter": data_converter(ContactKeys.from_settings(engine, settings))})


async def prepare_keys(client: Client, contacts: Collection[str]) -> None:
    """Read, or create, the keys the client's codec will seal these contacts' payloads with, all
    together, before a batch of their runs is started or signalled."""
    if (keys := contact_keys(client)) is not None:
        await keys.ensure(contacts)


def contact_keys(client: Client) -> ContactKeys | None:
    """The key store behind a client's codec, or None for a client without it."""
    codec = client.data_converter.payload_codec
    return codec.keys if isinstance(codec, ContactPayloadCodec) else None


async def decode_for_operator(client: Client, payloads: Sequence[Payload]) -> list[Payload]:
    """What an operator's codec server answers: each payload decoded, or left sealed when its
    contact was erased (the Web UI then shows it still encrypted, not an error for the page)."""
    codec = client.data_converter.payload_codec
    if not isinstance(codec, ContactPayloadCodec):
        return list(payloads)
    decoded = []
    for payload in payloads:
        try:
            decoded.append(await codec.decode_one(payload))
        except (PayloadKeyDestroyed, InvalidTag, KeyError, UnicodeDecodeError):  # erased, or not ours intact
            decoded.append(payload)
    return decoded
