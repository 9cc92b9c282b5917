"""An SMTP server that accepts every message and stores it in the `dev_mailbox` table.

It stands in for a mail provider in development and tests: the real send path
talks real SMTP to it, and the mailbox is read back through `sojourn.mailbox`.
Run alone with `python -m sojourn.dev.smtp_sink [--host H] [--port P] [--database-url URL]`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from email.parser import BytesHeaderParser
from email.policy import default as default_policy

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.data.db import create_engine
from sojourn.data.models import MailboxMessage

log = logging.getLogger(__name__)

_TABLE = MailboxMessage.__table__


def _as_bytes(content: bytes | str | None) -> bytes:
    if content is None:
        return b""
    return content if isinstance(content, bytes) else content.encode("utf-8", "surrogateescape")


def parse_envelope(envelope: Envelope) -> dict:
    """The row to store for one received message."""
    data = _as_bytes(envelope.original_content or envelope.content)
    headers = BytesHeaderParser(policy=default_policy).parsebytes(data)
    subject = headers.get("subject")
    message_id = headers.get("message-id")
    return {
        "mail_from": envelope.mail_from or "",
        "rcpt_to": list(envelope.rcpt_tos),
        "subject": str(subject) if subject is not None else None,
        "message_id": str(message_id).strip() if message_id is not None else None,
        # Text column: undecodable 8-bit bytes become U+FFFD rather than refusing the message.
        "raw": data.decode("utf-8", "replace").replace("\x00", ""),
    }


class MailboxHandler:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            row = parse_envelope(envelope)
            async with self.engine.begin() as conn:
                await conn.execute(insert(_TABLE).values(**row))
        except Exception:
            log.exception("could not store message from %s", envelope.mail_from)
            # 4xx: the sender keeps the message and retries, as it would with a real provider.
            return "451 4.3.0 Message not stored, try again later"
        log.info("stored message %s for %s", row["message_id"], ", ".join(row["rcpt_to"]))
        return "250 2.0.0 Message stored"


class SmtpSink:
    def __init__(self, database_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.database_url = database_url
        self.host = host
        self.port = port
        self._engine: AsyncEngine | None = None
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._engine = create_engine(self.database_url, pool_size=10)
        handler = MailboxHandler(self._engine)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname="sojourn-sink", enable_SMTPUTF8=True, loop=loop),
            host=self.host, port=self.port,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("SMTP sink listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # Close open sessions too, or wait_closed() blocks on idle clients (Python >= 3.12).
            close_clients = getattr(self._server, "close_clients", None)
            if close_clients is not None:
                close_clients()
            await self._server.wait_closed()
            self._server = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def __aenter__(self) -> SmtpSink:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def serve(database_url: str, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SmtpSink(database_url, host, port):
        await stop.wait()
    log.info("SMTP sink stopped")


def main(argv: list[str] | None = None) -> None:
    from sojourn.logs import configure_logging
    from sojourn.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m sojourn.dev.smtp_sink")
    parser.add_argument("--host", default=settings.smtp_host)
    parser.add_argument("--port", type=int, default=settings.smtp_port)
    parser.add_argument("--database-url", default=settings.database_url)
    args = parser.parse_args(argv)
    configure_logging(settings.log_format)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command
    asyncio.run(serve(args.database_url, args.host, args.port))


if __name__ == "__main__":
    main()
