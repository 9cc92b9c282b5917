"""SendGrid's Event Webhook: what happened to each email after our SMTP relay took it.

SendGrid signs each post with ECDSA (P-256, SHA-256) over the timestamp header followed by the
raw body; the public key is the webhook's verification key (SENDGRID_WEBHOOK_PUBLIC_KEY). A
post whose timestamp is more than WEBHOOK_TOLERANCE seconds away from now is refused, as our own
signed webhooks are, so a captured post cannot be replayed later.

Each event names its message by our id, if the sender gave SendGrid a custom argument
`sojourn_message_id`, else by `smtp-id`: the Message-ID header we wrote.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.consent import set_consent
from sojourn.errors import Unavailable
from sojourn.services.engagement import find_message, looks_automated, record, record_unsubscribe
from sojourn.services.engagement_signals import EngagementSignals

# SendGrid's event -> ours. A hard bounce and a spam report suppress the contact (as on our own
# webhook); a block (a receiver's temporary refusal) and a drop (SendGrid did not send it)
# are recorded as `undelivered`. `unsubscribe` withdraws email consent and is recorded against the
# message, once.
_KINDS = {"delivered": "delivered", "open": "opened", "click": "clicked", "spamreport": "complained",
          "dropped": "undelivered"}
_UNSUBSCRIBES = {"unsubscribe", "group_unsubscribe"}


class SendGridNotConfigured(Unavailable):
    code = "sendgrid_not_configured"


def signed_by_sendgrid(body: bytes, signature: str | None, timestamp: str | None, public_key: str | None,
                       tolerance: float, now: float | None = None) -> bool:
    """Whether the ECDSA signature is SendGrid's for `timestamp` + `body`, and the timestamp recent."""
    if not public_key:
        raise SendGridNotConfigured("set SENDGRID_WEBHOOK_PUBLIC_KEY to receive SendGrid events")
    if not signature or not timestamp or not timestamp.isdecimal():
        return False
    if abs((now or time.time()) - int(timestamp)) > tolerance:
        return False
    try:
        key = _public_key(public_key)
        key.verify(base64.b64decode(signature, validate=True), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


@lru_cache(maxsize=4)  # the same setting on every post: parse it once
def _public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The key as SendGrid shows it (base64 DER), or PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return serialization.load_pem_public_key(text.encode())
    return serialization.load_der_public_key(base64.b64decode(text))


@dataclass(frozen=True, kw_only=True)
class SendGridEvent:
    event: str
    timestamp: int  # seconds since the epoch
    sg_event_id: str | None = None
    smtp_id: str | None = None
    sojourn_message_id: str | None = None  # a custom argument, if the sender set one
    url: str | None = None
    bounce_type: str | None = None  # `bounce` (hard) or `blocked`
    machine_open: bool = False  # Apple Mail's privacy protection fetched the pixel, not a person


async def record_sendgrid_events(session: AsyncSession, signals: EngagementSignals, events: list[SendGridEvent],
                                 automated_window: timedelta) -> list[str]:
    """Each event's outcome: `recorded`, `duplicate` (SendGrid repeated it), `unknown_message`
    or `ignored` (processed, deferred and others that change nothing)."""
    statuses = []
    for event in events:
        kind = _kind(event)
        reference = event.sojourn_message_id or event.smtp_id
        if kind is None and event.event not in _UNSUBSCRIBES:
            statuses.append("ignored")
            continue
        message = await find_message(session, reference) if reference else None
        if message is None:
            statuses.append("unknown_message")
            continue
        at = datetime.fromtimestamp(event.timestamp, timezone.utc)
        if kind is None:
            await set_consent(session, message.contact_id, "email", "unsubscribed", source="sendgrid")
            stored = await record_unsubscribe(session, message, source="webhook", occurred_at=at,
                                              provider_event_id=event.sg_event_id)
            await session.commit()
            statuses.append("recorded" if stored else "duplicate")
            continue
        automated = event.machine_open or looks_automated(kind, at, message, automated_window)
        stored = await record(session, signals, message, kind, source="webhook", url=event.url, occurred_at=at,
                              automated=automated, provider_event_id=event.sg_event_id)
        statuses.append("recorded" if stored else "duplicate")
    return statuses


def _kind(event: SendGridEvent) -> str | None:
    if event.event == "bounce":
        return "bounced" if event.bounce_type in (None, "bounce") else "undelivered"
    return _KINDS.get(event.event)
