"""The SMTP sink against a real embedded Postgres: what a sender sends is what the mailbox shows."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import pytest
from sqlalchemy import select

from sojourn.data.db import create_engine, upgrade
from sojourn.data.models import MailboxMessage
from sojourn.dev.mailbox import clear_mailbox, list_mailbox
from sojourn.dev.postgres import EmbeddedPostgres, free_port
from sojourn.dev.smtp_sink import SmtpSink


# Names differ from conftest's session fixtures on purpose: this module runs its own
# Postgres, because it empties the mailbox that other tests read.
@pytest.fixture(scope="module")
def mailbox_db_url(open_dir):
    postgres = EmbeddedPostgres(open_dir / "smtp-sink-pg", free_port())
    postgres.start()
    try:
        postgres.create_database("sojourn")
        url = postgres.url("sojourn")
        upgrade(url)
        yield url
    finally:
        postgres.stop()


@pytest.fixture
async def mailbox_engine(mailbox_db_url):
    engine = create_engine(mailbox_db_url, pool_size=4)
    await clear_mailbox(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sink(mailbox_db_url):
    async with SmtpSink(mailbox_db_url, port=0) as sink:
        yield sink


def _plain() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Sojourn <journeys@sojourn.local>"
    message["To"] = "ada@example.com, grace@example.com"
    message["Subject"] = "Bienvenue, Zoë — your first week"
    message["Message-ID"] = "<welcome-1@sojourn.local>"
    message.set_content("Hello Zoë,\nwelcome aboard.\n")
    return message


def _alternative() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "journeys@sojourn.local"
    message["To"] = "ada@example.com"
    message["Subject"] = "You left something in your cart"
    message["Message-ID"] = "<cart-7@sojourn.local>"
    message.set_content("Your cart is waiting.")
    message.add_alternative("<p>Your cart is <b>waiting</b>.</p>", subtype="html")
    return message


async def _send(port: int, message: EmailMessage, recipients: list[str] | None = None):
    return await aiosmtplib.send(message, hostname="127.0.0.1", port=port, recipients=recipients,
                                 start_tls=False, use_tls=False)


async def test_every_message_is_stored_before_it_is_accepted(sink, mailbox_engine):
    _, reply = await _send(sink.port, _plain())
    assert reply.startswith("2.0.0")
    # Accepted means committed: the row is visible at once, from another connection.
    async with mailbox_engine.connect() as conn:
        rows = (await conn.execute(select(MailboxMessage.__table__))).all()
    assert len(rows) == 1
    assert rows[0].rcpt_to == ["ada@example.com", "grace@example.com"]
    assert rows[0].subject == "Bienvenue, Zoë — your first week"
    assert rows[0].message_id == "<welcome-1@sojourn.local>"
    assert rows[0].mail_from == "journeys@sojourn.local"

    # Envelope recipients win over the To header (Bcc-style delivery).
    await _send(sink.port, _alternative(), recipients=["ada@example.com", "audit@example.com"])

    newest, oldest = await list_mailbox(mailbox_engine)
    assert newest["subject"] == "You left something in your cart"
    assert newest["to"] == ["ada@example.com", "audit@example.com"]
    assert newest["message_id"] == "<cart-7@sojourn.local>"
    assert newest["text"].strip() == "Your cart is waiting."
    assert newest["html"].strip() == "<p>Your cart is <b>waiting</b>.</p>"
    assert oldest["from"] == "journeys@sojourn.local"
    assert oldest["text"] == "Hello Zoë,\nwelcome aboard.\n"
    assert oldest["html"] is None
    assert oldest["received_at"] <= newest["received_at"]


async def test_list_filters_by_recipient_and_clear_deletes(sink, mailbox_engine):
    await _send(sink.port, _plain())
    await _send(sink.port, _alternative())

    assert [m["message_id"] for m in await list_mailbox(mailbox_engine, to="Grace@Example.com")] == [
        "<welcome-1@sojourn.local>"]
    assert len(await list_mailbox(mailbox_engine, to="ada@example.com")) == 2
    assert len(await list_mailbox(mailbox_engine, limit=1)) == 1
    assert await list_mailbox(mailbox_engine, to="nobody@example.com") == []

    assert await clear_mailbox(mailbox_engine, to="grace@example.com") == 1
    assert [m["message_id"] for m in await list_mailbox(mailbox_engine)] == ["<cart-7@sojourn.local>"]
    assert await clear_mailbox(mailbox_engine) == 1
    assert await list_mailbox(mailbox_engine) == []


async def test_message_is_refused_with_a_temporary_error_when_it_cannot_be_stored():
    unreachable = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/sojourn"
    async with SmtpSink(unreachable, port=0) as sink:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await _send(sink.port, _plain())
    assert refused.value.code == 451
