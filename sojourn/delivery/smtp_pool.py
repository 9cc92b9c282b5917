"""A small pool of reused, health-checked SMTP connections (aiosmtplib), and the one rule for what
each SMTP failure means for a message.

Mail servers do not drop a repeated Message-ID, so a message is handed over once: once the DATA
command is under way the server may have taken it, whatever happens next. Every failure before
that point (no connection, TLS, EHLO, a refused sender or recipient) left the server with
nothing: it is transient (4xx, no connection) or permanent (5xx) and may be retried. A refusal of
the content itself (a 4xx or 5xx answer to the end of DATA) is as clear. Losing the connection
or the answer after DATA began is not: the server may have queued the message, so it is
unconfirmed and never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from email.message import Message
from typing import Any

import aiosmtplib

from sojourn.delivery.channels import PermanentDeliveryFailure, TransientDeliveryFailure, UnconfirmedDelivery
from sojourn.settings import Settings

log = logging.getLogger(__name__)

# A connection idle longer than this is checked with NOOP before use: servers
# drop idle clients and a dead socket would otherwise cost a failed attempt.
_CHECK_AFTER_IDLE_SECONDS = 15.0

HandingOver = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


class _MarkFailed(Exception):
    """`handing_over` failed (the database is down): nothing was sent; its own error is raised."""


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, telling its message's owner the moment the DATA command starts."""

    handing_over: HandingOver = staticmethod(_nothing)
    handed_over = False

    async def data(self, message: str | bytes, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        try:
            await self.handing_over()
        except Exception as err:
            raise _MarkFailed() from err
        self.handed_over = True
        return await super().data(message, *args, **kwargs)


class SmtpPool:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._idle: asyncio.Queue[tuple[_Client | None, float]] = asyncio.Queue()
        for _ in range(settings.smtp_connections):
            self._idle.put_nowait((None, 0.0))

    async def send(self, message: Message, handing_over: HandingOver = _nothing) -> None:
        """Send `message`; `handing_over` runs just before the server may take it (DATA). Raises a
        permanent, transient or unconfirmed delivery failure."""
        client, last_used = await self._idle.get()
        try:
            client = await self._healthy(client, last_used)
        except BaseException as err:
            self._idle.put_nowait((None, 0.0))
            if isinstance(err, (aiosmtplib.SMTPException, OSError, TimeoutError)):
                # Whatever the server said (a 421 greeting, a 535 login), it was not about this message.
                raise TransientDeliveryFailure(f"SMTP server unreachable ({_reason(err)})") from err
            raise
        client.handing_over, client.handed_over = handing_over, False
        try:
            await client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as err:
            self._idle.put_nowait((client, time.monotonic()))
            refusals = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in err.recipients)
            if all(500 <= r.code < 600 for r in err.recipients):
                raise PermanentDeliveryFailure(f"recipient refused: {refusals}") from err
            raise TransientDeliveryFailure(f"recipient not accepted now: {refusals}") from err  # greylisting
        except aiosmtplib.SMTPResponseException as err:
            # The server answered (MAIL, RCPT or the message itself) and took nothing.
            self._idle.put_nowait((client, time.monotonic()))
            if 500 <= err.code < 600:
                raise PermanentDeliveryFailure(f"SMTP {err.code} {err.message}") from err
            raise TransientDeliveryFailure(f"SMTP {err.code} {err.message}") from err
        except _MarkFailed as err:
            await self._discard(client)  # mid-transaction, its recipient accepted: not reusable as it is
            raise err.__cause__ from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            await self._discard(client)
            if client.handed_over:
                raise UnconfirmedDelivery(f"SMTP server did not answer the message's DATA ({_reason(err)})") from err
            raise TransientDeliveryFailure(f"SMTP server unreachable ({_reason(err)})") from err
        except BaseException:
            await self._discard(client)
            raise
        self._idle.put_nowait((client, time.monotonic()))

    async def _discard(self, client: _Client) -> None:
        await _close(client)
        self._idle.put_nowait((None, 0.0))

    async def close(self) -> None:
        while not self._idle.empty():
            client, _ = self._idle.get_nowait()
            await _close(client)

    async def _healthy(self, client: _Client | None, last_used: float) -> _Client:
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

    async def _connect(self) -> _Client:
        s = self._settings
        client = _Client(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=s.smtp_use_tls,
            start_tls=s.smtp_start_tls,
            timeout=s.smtp_timeout,
            username=s.smtp_username,
            password=s.smtp_password,
        )
        try:
            await client.connect()
        except BaseException:
            client.close()
            raise
        return client


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


async def _close(client: aiosmtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        await client.quit()
    except Exception:  # the connection is being thrown away either way
        client.close()
