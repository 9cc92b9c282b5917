"""A small pool of reused, health-checked SMTP connections (aiosmtplib)."""

from __future__ import annotations

import asyncio
import logging
import time
from email.message import Message

import aiosmtplib

from sojourn.delivery.channels import PermanentDeliveryFailure
from sojourn.settings import Settings

log = logging.getLogger(__name__)

# A connection idle longer than this is checked with NOOP before use: servers
# drop idle clients and a dead socket would otherwise cost a failed attempt.
_CHECK_AFTER_IDLE_SECONDS = 15.0


class SmtpPool:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._idle: asyncio.Queue[tuple[aiosmtplib.SMTP | None, float]] = asyncio.Queue()
        for _ in range(settings.smtp_connections):
            self._idle.put_nowait((None, 0.0))

    async def send(self, message: Message) -> None:
        client, last_used = await self._idle.get()
        try:
            client = await self._healthy(client, last_used)
            try:
                await client.send_message(message)
            except aiosmtplib.SMTPRecipientsRefused as err:
                raise PermanentDeliveryFailure(f"recipients refused: {err.recipients}") from err
            except aiosmtplib.SMTPResponseException as err:
                if 500 <= err.code < 600:
                    raise PermanentDeliveryFailure(f"{err.code} {err.message}") from err
                raise
        except PermanentDeliveryFailure:
            self._idle.put_nowait((client, time.monotonic()))
            raise
        except BaseException:
            await _close(client)
            self._idle.put_nowait((None, 0.0))
            raise
        self._idle.put_nowait((client, time.monotonic()))

    async def close(self) -> None:
        while not self._idle.empty():
            client, _ = self._idle.get_nowait()
            await _close(client)

    async def _healthy(self, client: aiosmtplib.SMTP | None, last_used: float) -> aiosmtplib.SMTP:
        if client is not None and client.is_connected:
            if time.monotonic() - last_used < _CHECK_AFTER_IDLE_SECONDS:
                return client
            try:
                await client.noop()
                return client
            except aiosmtplib.SMTPException:
                log.info("idle SMTP connection went stale; reconnecting")
                await _close(client)
        return await self._connect()

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=s.smtp_use_tls,
            start_tls=s.smtp_start_tls,
            timeout=s.smtp_timeout,
            username=s.smtp_username,
            password=s.smtp_password,
        )
        await client.connect()
        return client


async def _close(client: aiosmtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        await client.quit()
    except Exception:  # the connection is being thrown away either way
        client.close()
