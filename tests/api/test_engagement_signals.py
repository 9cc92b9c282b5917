"""An open is answered without waiting for Temporal, and its run hears of it even when Temporal
could not be reached at the time: the stored event is retried until the signal is delivered."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timezone

import httpx
from sqlalchemy import select
from temporalio.client import Client

from api.app import create_app
from sojourn.contracts.journey import journey_workflow_id
from sojourn.data.contact_keys import ContactKeys
from sojourn.data.models import EngagementEvent, Message
from sojourn.services.engagement_signals import EngagementSignals, due_signal
from sojourn.services.payload_codec import contact_keys, with_codec

from helpers import API_KEY, add_contact, create_active_journey, enroll, statements_run, tracking_path, wait_for_mail


class TemporalLink:
    """A TCP relay in front of the Temporal server that a test can cut and restore."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._open: list[asyncio.StreamWriter] = []
        self.cut = False

    async def __aenter__(self) -> TemporalLink:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.address = "127.0.0.1:%d" % self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.sever()
        self._server.close()

    def sever(self) -> None:
        """Drop every connection, and refuse new ones until `cut` is False again."""
        self.cut = True
        for writer in self._open:
            writer.close()
        self._open.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._open += [writer, upstream_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


async def test_an_open_while_temporal_is_unreachable_reaches_the_run_later(worker, engine, temporal_env, settings,
                                                                           unique):
    journey, contact = f"sig-{unique}", f"sig-{unique}"
    async with TemporalLink(temporal_env.client.service_client.config.target_host) as link:
        client = await Client.connect(link.address, namespace=temporal_env.client.namespace)
        app = create_app(settings.model_copy(update={"engagement_signal_retry": 0.5}), temporal=client)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://sojourn.test",
                headers={"Authorization": f"Bearer {API_KEY}"}) as api:
            await create_active_journey(api, journey, {"name": "Signals", "nodes": [
                {"id": "hello", "type": "send", "subject": f"Hello {unique}", "html": "<p>Hello</p>",
                 "next": "opened"},
                {"id": "opened", "type": "wait_for", "event": {"opened": "hello"}, "timeout": "30d",
                 "on_event": "thanks", "on_timeout": "end"},
                {"id": "thanks", "type": "send", "subject": f"Thanks {unique}", "text": "Thanks", "next": "end"},
                {"id": "end", "type": "exit"}]})
            await add_contact(api, contact, f"{contact}@example.com")
            await enroll(api, journey, contact)
            [mail] = await wait_for_mail(engine, f"{contact}@example.com")

            link.sever()
            opened = await api.get(tracking_path(mail["html"], "o"))
            assert opened.status_code == 200
            await asyncio.sleep(2)  # a few retries fail while the link is down
            link.cut = False

            # The stored open is delivered once Temporal can be reached: the run moves on.
            mails = await wait_for_mail(engine, f"{contact}@example.com", count=2, timeout=60)
            assert [m["subject"] for m in mails] == [f"Hello {unique}", f"Thanks {unique}"]
            async with engine.connect() as conn:
                due = (await conn.execute(select(EngagementEvent.signal_due).join(Message)
                                          .where(Message.journey_id == journey))).scalars().all()
            assert due == [False]


async def test_a_batch_of_signals_reads_its_contacts_keys_in_one_statement(engine, temporal_env, settings, unique):
    """Each signal is sealed with its contact's key; a batch of signals to many contacts' runs
    must not read them in a transaction each (the API's cost per open in the worst case)."""
    contacts = [f"keys-{unique}-{n}" for n in range(5)]
    writer = ContactKeys.from_settings(engine, settings)
    expected = {contact: (await writer.for_contact(contact))[0] for contact in contacts}
    client = with_codec(temporal_env.client, engine, settings)  # a process that never saw these keys
    signals = EngagementSignals(engine, client)
    batch = [due_signal(0, journey_workflow_id(f"gone-{unique}", contact), "hello", "opened", uuid.uuid4(), None,
                        datetime.now(timezone.utc), f"gone-{unique}", 0) for contact in contacts]
    with statements_run(engine) as statements:
        await signals.deliver(batch)  # the runs do not exist: each signal is sealed, then refused
    keys_read = [statement for statement in statements if "contact_keys" in statement]
    assert len(keys_read) == 1, keys_read
    cached = contact_keys(client)
    assert {contact: (await cached.for_contact(contact))[0] for contact in contacts} == expected
