"""Email is handed over once: a message the SMTP server may have taken (its DATA under way) is
never sent again, while a failure before that point is retried until the mail goes out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from sojourn.data.models import Message
from sojourn.dev.postgres import free_port
from sojourn.dev.smtp_sink import SmtpSink
from worker.main import journey_worker

from helpers import add_contact, create_active_journey, enroll, finished, single_send, wait_for_mail


class _TakesThenHangsUp:
    """Reads the whole message, then drops the connection instead of answering 250."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope.original_content)
        server.transport.abort()
        return "250 2.0.0 never heard"


class _RefusesFirst:
    """Answers the first RCPT with `rcpt` and the first message with `data`; takes what follows."""

    def __init__(self, rcpt: str | None = None, data: str | None = None) -> None:
        self.replies = {"rcpt": rcpt, "data": data}
        self.received: list[bytes] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        reply, self.replies["rcpt"] = self.replies["rcpt"], None
        if reply is None:
            envelope.rcpt_tos.append(address)
        return reply or "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply, self.replies["data"] = self.replies["data"], None
        if reply is None:
            self.received.append(envelope.original_content)
        return reply or "250 2.0.0 queued"


@asynccontextmanager
async def _smtp_server(handler) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, loop=loop), host="127.0.0.1", port=0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def _message(engine, workflow_id: str) -> Message | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(Message).where(Message.workflow_id == workflow_id))).first()


async def test_a_message_whose_250_is_lost_is_unconfirmed_not_sent_again(api, engine, temporal_env, settings,
                                                                         unique):
    journey, contact = f"hang-up-{unique}", f"hang-up-{unique}"
    await create_active_journey(api, journey, single_send(f"Once {unique}"))
    await add_contact(api, contact, f"{contact}@example.com")
    server = _TakesThenHangsUp()
    async with _smtp_server(server) as port:
        async with journey_worker(temporal_env.client, engine, settings.model_copy(update={"smtp_port": port})):
            [run] = await enroll(api, journey, contact)
            state = await finished(temporal_env, run["workflow_id"])
        await asyncio.sleep(1.5)  # past the first retry an attempt would have made

    assert len(server.received) == 1
    [sent] = state.messages
    assert sent.status == "unconfirmed"
    assert "did not answer" in sent.reason
    assert (await _message(engine, run["workflow_id"])).status == "unconfirmed"


async def _retrying_run(api, journey: str, contact: str, attempt: int, timeout: float = 20.0) -> dict:
    """The run state once its send is on `attempt` (the ones before it failed)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await api.get(f"/v1/journeys/{journey}/runs/{contact}")
        assert answer.status_code == 200, answer.text
        if any(r["attempt"] >= attempt for r in answer.json()["retrying"]):
            return answer.json()
        assert asyncio.get_running_loop().time() < deadline, f"never retried {attempt - 1} times: {answer.json()}"
        await asyncio.sleep(0.2)


async def test_an_smtp_outage_delays_the_mail_and_loses_none(api, engine, temporal_env, settings, database_url,
                                                              unique, caplog):
    """Connections refused: nothing was handed over, so every attempt may try again; the mail
    goes out once the server is back. Meanwhile the run state and the message show the retries,
    and the worker logs one line for each failed attempt."""
    journey, contact = f"outage-{unique}", f"outage-{unique}"
    email = f"{contact}@example.com"
    await create_active_journey(api, journey, single_send(f"After the outage {unique}"))
    await add_contact(api, contact, email)
    port = free_port()  # nothing listens there yet
    async with journey_worker(temporal_env.client, engine, settings.model_copy(update={"smtp_port": port})):
        [run] = await enroll(api, journey, contact)
        during = await _retrying_run(api, journey, contact, attempt=3)
        [retrying] = during["retrying"]
        assert retrying["node"] == "hello" and retrying["activity"] == "send"
        assert "SMTP server unreachable" in retrying["last_error"] and "Connect call failed" in retrying["last_error"]
        assert retrying["last_failed_at"] is not None
        message = await _message(engine, run["workflow_id"])
        assert message.status == "retrying" and "SMTP server unreachable" in message.error

        async with SmtpSink(database_url, port=port):
            state = await finished(temporal_env, run["workflow_id"])
            mail = await wait_for_mail(engine, email, 2, timeout=2)

    assert [m["subject"] for m in mail] == [f"After the outage {unique}"]
    assert [m.status for m in state.messages] == ["sent"]
    message = await _message(engine, run["workflow_id"])
    assert message.status == "sent"
    assert (await api.get(f"/v1/journeys/{journey}/runs/{contact}")).json()["retrying"] == []

    history = await temporal_env.client.get_workflow_handle(run["workflow_id"]).fetch_history()
    [started] = [e.activity_task_started_event_attributes for e in history.events
                 if e.HasField("activity_task_started_event_attributes")]
    failures = started.attempt - 1
    assert failures >= 2
    about_it = [r for r in caplog.records if r.levelno >= logging.WARNING
                and (getattr(r, "message_id", None) == str(message.id) or run["workflow_id"] in r.getMessage())]
    assert len(about_it) == failures, [r.getMessage() for r in about_it]
    for record in about_it:
        assert (record.journey_id, record.contact_id) == (journey, message.contact_id)
        assert record.exc_info is None and "\n" not in record.getMessage()


async def test_what_the_server_answers_before_or_to_the_message_decides(api, engine, temporal_env, settings, unique):
    """A 4xx to RCPT or to the message took nothing: retried, delivered once. A 5xx to the
    message refused it for good: failed, not retried."""
    cases = {"rcpt-busy": (_RefusesFirst(rcpt="451 4.7.1 greylisted, try again"), "sent", 1),
             "data-busy": (_RefusesFirst(data="452 4.3.1 insufficient storage"), "sent", 1),
             "data-refused": (_RefusesFirst(data="554 5.7.1 message refused"), "failed", 0)}
    for name, (handler, status, received) in cases.items():
        journey = contact = f"{name}-{unique}"
        await create_active_journey(api, journey, single_send(f"{name} {unique}"))
        await add_contact(api, contact, f"{contact}@example.com")
        async with _smtp_server(handler) as port:
            async with journey_worker(temporal_env.client, engine, settings.model_copy(update={"smtp_port": port})):
                [run] = await enroll(api, journey, contact)
                state = await finished(temporal_env, run["workflow_id"])
        assert (name, state.messages[0].status, len(handler.received)) == (name, status, received)
