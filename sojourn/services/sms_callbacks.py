"""What Twilio tells us about texts: a sent message's delivery status (its StatusCallback), and
the texts contacts send back, whose STOP / START / HELP keywords set SMS consent.

Both requests are signed with X-Twilio-Signature: HMAC-SHA1 under the account's auth token of
the full URL Twilio called followed by each form parameter's name and value, sorted by name,
base64-encoded (checked by the `twilio` library's RequestValidator).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from sojourn.data.consent import set_consent
from sojourn.data.ingest.contact_fields import e164_phone
from sojourn.data.models import Contact, Message, utcnow
from sojourn.errors import Unavailable
from sojourn.services.engagement import last_text_to, record, record_unsubscribe
from sojourn.services.engagement_signals import EngagementSignals

log = logging.getLogger(__name__)

# Twilio's statuses on the way out (queued, sending, sent...) say nothing our record does not:
# it has the message as sent. Only the end of the way is recorded.
DELIVERED = "delivered"
NOT_DELIVERED = {"undelivered", "failed"}
# Error codes saying the number can never receive a text (not a number, a landline, no such
# handset): a hard bounce, which suppresses the contact as an email hard bounce does. Any
# other failure (handset off, carrier filtering, a queue overflow) is recorded as
# `undelivered` and does not stop later messages.
NUMBER_CANNOT_RECEIVE = {"21211", "21612", "21614", "30005", "30006"}
# The carrier says the person texted STOP to this sender: their SMS consent is withdrawn.
RECIPIENT_OPTED_OUT = "21610"

# Twilio's own opt-out, opt-in and help keywords: the whole text, any case, trimmed.
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
# A STOP answers the text before it: it counts as an unsubscribe through the last text we sent
# that contact at that number, if it was sent this recently; an older one did not prompt it.
STOP_ANSWERS_WITHIN = timedelta(days=7)


def _as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class TwilioNotConfigured(Unavailable):
    code = "twilio_not_configured"


def signed_by_twilio(url: str, params: Mapping[str, str], signature: str | None, auth_token: str | None) -> bool:
    """Whether X-Twilio-Signature is Twilio's for a request to `url` (as Twilio called it) with `params`."""
    if not auth_token:
        raise TwilioNotConfigured("set TWILIO_AUTH_TOKEN to receive Twilio callbacks")
    return bool(signature) and RequestValidator(auth_token).validate(url, dict(params), signature)


async def record_status(session: AsyncSession, signals: EngagementSignals, params: Mapping[str, str],
                        message_id: str | None = None) -> str:
    """Record a status callback on our message `message_id` (the callback URL names it), else
    (texts sent before it did) the one Twilio calls `MessageSid`: `recorded`, `duplicate` (Twilio
    repeated it), `ignored` (a status on the way) or `unknown_message`."""
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
    if status != DELIVERED and status not in NOT_DELIVERED:
        return "ignored"
    # By our id, the callback finds a text whose send is still being recorded (its row is marked
    # `sending` before Twilio is called, its sid only once Twilio answered): Twilio does not retry.
    ours = _as_uuid(message_id)
    found = Message.id == ours if ours is not None else Message.provider_message_id == sid
    message = (await session.execute(select(Message).where(found, Message.channel == "sms").limit(1))).scalar()
    if message is None:
        log.info("Twilio status %s for unknown message %s", status, sid)
        return "unknown_message"
    error = params.get("ErrorCode", "")
    if status == DELIVERED:
        kind = "delivered"
    elif error in NUMBER_CANNOT_RECEIVE:
        kind = "bounced"
    else:
        kind = "undelivered"
    if error == RECIPIENT_OPTED_OUT:
        await set_consent(session, message.contact_id, "sms", "unsubscribed", source="carrier_opt_out")
    log.info("Twilio: message %s %s%s", message.id, status, f" (error {error})" if error else "",
             extra={"journey_id": message.journey_id, "contact_id": message.contact_id, "message_id": str(message.id)})
    stored = await record(session, signals, message, kind, source="webhook", provider_event_id=f"{sid}:{status}")
    return "recorded" if stored else "duplicate"


@dataclass(frozen=True)
class InboundOutcome:
    action: str  # unsubscribed | subscribed | help | ignored
    contacts: int  # contacts whose consent changed (every contact with that number)
    reply: str | None = None  # what to text back


async def record_inbound(session: AsyncSession, params: Mapping[str, str], help_text: str) -> InboundOutcome:
    """A text a person sent us: STOP words withdraw SMS consent of every contact with that
    number (recorded as an unsubscribe through the last text each was sent, within
    `STOP_ANSWERS_WITHIN`), START words give it back, HELP words are answered with `help_text`."""
    word = params.get("Body", "").strip().upper()
    if word in HELP_WORDS:
        return InboundOutcome("help", 0, help_text)
    status = "unsubscribed" if word in STOP_WORDS else "subscribed" if word in START_WORDS else None
    if status is None:
        return InboundOutcome("ignored", 0)
    try:
        number = e164_phone(params.get("From", ""), None)
    except ValueError:
        return InboundOutcome("ignored", 0)  # a short code or alphanumeric sender: no contact has it
    contact_ids = (await session.execute(select(Contact.id).where(Contact.phone == number))).scalars().all()
    for contact_id in contact_ids:
        await set_consent(session, contact_id, "sms", status, source="sms_keyword")
        answered = await last_text_to(session, contact_id, number, utcnow() - STOP_ANSWERS_WITHIN)
        if status == "unsubscribed" and answered is not None:
            await record_unsubscribe(session, answered, source="sms_keyword")
    await session.commit()
    return InboundOutcome(status, len(contact_ids))
