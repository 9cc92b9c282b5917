"""The email send activity: render, track, record under an idempotency key, deliver once."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate

from sqlalchemy import bindparam, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.smtp_pool import PermanentDeliveryFailure, SmtpPool
from sojourn.contracts import SEND_EMAIL_ACTIVITY, SendEmailRequest, SendEmailResult
from sojourn.models import Contact, Message, utcnow
from sojourn.settings import Settings
from sojourn.templating import TemplateRenderError, render_message, template_context
from sojourn.tracking import instrument_html

log = logging.getLogger(__name__)

_MESSAGE_NAMESPACE = uuid.UUID("6f1f9c1e-3b8a-4d52-9a55-0c8f3f1a2b7d")

_MESSAGES = Message.__table__
_CONTACT_COLUMNS = Contact.__table__.c.keys()
_MESSAGE_COLUMNS = _MESSAGES.c.keys()

# Built once: the send path runs these two statements for every message.
# The contact and any message already recorded under the key, in one round trip.
_LOAD = (select(Contact.__table__, *[c.label(f"m_{c.name}") for c in _MESSAGES.c])
         .select_from(select(literal(1).label("one")).subquery()
                      .outerjoin(Contact, Contact.id == bindparam("contact_id"))
                      .outerjoin(_MESSAGES, _MESSAGES.c.idempotency_key == bindparam("idempotency_key"))))
_OUTCOME = ("status", "error", "sent_at")
_insert = insert(Message)
_RECORD = _insert.on_conflict_do_update(index_elements=["idempotency_key"],
                                        set_={name: _insert.excluded[name] for name in _OUTCOME})

# Test seam: runs after the SMTP server accepted a message, to prove that a
# retried attempt finds the recorded message and does not send it again.
AfterAccepted = Callable[[SendEmailRequest], Awaitable[None]]


class EmailActivities:
    def __init__(
        self,
        engine: AsyncEngine,
        smtp: SmtpPool,
        settings: Settings,
        after_accepted: AfterAccepted | None = None,
    ) -> None:
        # Each statement stands alone: autocommit spares the BEGIN and COMMIT round trips.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._smtp = smtp
        self._settings = settings
        self._after_accepted = after_accepted

    @activity.defn(name=SEND_EMAIL_ACTIVITY)
    async def send_email(self, request: SendEmailRequest) -> SendEmailResult:
        contact, recorded = await self._load(request)
        if recorded is not None and recorded.status == "sent":
            activity.logger.info("message %s already sent; not sending again", request.idempotency_key)
            return SendEmailResult(message_id=str(recorded.id), status="sent", recipient=recorded.recipient,
                                   subject=recorded.subject)
        if contact is None:
            raise ApplicationError(f"contact {request.contact_id} does not exist", type="ContactNotFound",
                                   non_retryable=True)
        if not contact.email:
            return SendEmailResult(message_id="", status="skipped", reason="contact has no email address")

        # Derived from the idempotency key, so every attempt builds the same Message-ID and
        # tracking links: a resend after a crash between the server's 250 and our record
        # is a duplicate that mail systems drop by Message-ID.
        message_uuid = uuid.uuid5(_MESSAGE_NAMESPACE, request.idempotency_key)
        try:
            context = template_context(_contact_dict(contact))
            if request.event is not None:
                context["event"] = {"name": request.event.name, "properties": request.event.properties,
                                    "occurred_at": request.event.occurred_at}
            rendered = render_message(request.subject, request.html, request.text, context)
        except TemplateRenderError as err:
            raise ApplicationError(f"template failed for this contact: {err}", type="TemplateError", non_retryable=True)
        html, links = rendered.html, []
        if html is not None and request.track:
            html, links = instrument_html(html, message_uuid, self._settings.public_base_url, self._settings.tracking_secret)
        message_id_header = f"<{message_uuid}@{self._settings.message_id_domain}>"
        email = self._build(request, contact.email, message_id_header, rendered.subject, html, rendered.text)
        row = dict(id=message_uuid, idempotency_key=request.idempotency_key, workflow_id=request.workflow_id,
                   journey_id=request.journey_id, journey_version=request.journey_version, node_id=request.node_id,
                   contact_id=contact.id, channel="email", recipient=contact.email, subject=rendered.subject,
                   message_id_header=message_id_header, links=links)
        try:
            await self._smtp.send(email)
        except PermanentDeliveryFailure as err:
            await self._record(row, status="failed", error=str(err), sent_at=None)
            raise ApplicationError(str(err), type="PermanentDeliveryFailure", non_retryable=True)
        await self._record(row, status="sent", error=None, sent_at=utcnow())
        if self._after_accepted is not None:
            await self._after_accepted(request)
        return SendEmailResult(message_id=str(message_uuid), status="sent", recipient=contact.email,
                               subject=rendered.subject)

    async def _load(self, request: SendEmailRequest) -> tuple[Contact | None, Message | None]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(_LOAD, {"contact_id": request.contact_id,
                                              "idempotency_key": request.idempotency_key})).mappings().first()
        if row is None:
            return None, None
        contact = Contact.model_validate({k: row[k] for k in _CONTACT_COLUMNS}) if row["id"] is not None else None
        message = Message.model_validate({k: row[f"m_{k}"] for k in _MESSAGE_COLUMNS}) if row["m_id"] is not None else None
        return contact, message

    async def _record(self, row: dict, **outcome) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(_RECORD, {**row, **outcome})

    def _build(self, request: SendEmailRequest, recipient: str, message_id_header: str, subject: str,
               html: str | None, text: str | None) -> EmailMessage:
        email = EmailMessage()
        email["From"] = request.from_address or self._settings.mail_from
        email["To"] = recipient
        email["Subject"] = subject
        email["Message-ID"] = message_id_header
        email["Date"] = formatdate(localtime=False)
        email["X-Sojourn-Journey"] = f"{request.journey_id}/{request.node_id}"
        if text is not None:
            email.set_content(text)
            if html is not None:
                email.add_alternative(html, subtype="html")
        else:
            email.set_content(html, subtype="html")
        return email


def _contact_dict(contact: Contact) -> dict:
    return contact.model_dump(include={"external_id", "email", "phone", "first_name", "last_name", "time_zone", "attributes"})
