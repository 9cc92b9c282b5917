"""The email send activity: render, track, record under an idempotency key, deliver once."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate

from sqlalchemy import select, update
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
        self._engine = engine
        self._smtp = smtp
        self._settings = settings
        self._after_accepted = after_accepted

    @activity.defn(name=SEND_EMAIL_ACTIVITY)
    async def send_email(self, request: SendEmailRequest) -> SendEmailResult:
        existing = await self._recorded(request.idempotency_key)
        if existing is not None and existing.status == "sent":
            activity.logger.info("message %s already sent; not sending again", request.idempotency_key)
            return _result(existing)

        contact = await self._contact(request.contact_id)
        if not contact.email:
            return SendEmailResult(message_id="", status="skipped", reason="contact has no email address")

        message_uuid = existing.id if existing is not None else uuid.uuid4()
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

        row = existing or await self._record(request, message_uuid, contact, rendered.subject, links)
        email = self._build(row, request, rendered.subject, html, rendered.text)
        # A 'sending' row left by an attempt that died mid-delivery is delivered
        # again with the same Message-ID, which mail systems use to deduplicate.
        try:
            await self._smtp.send(email)
        except PermanentDeliveryFailure as err:
            await self._mark(row.id, status="failed", error=str(err))
            raise ApplicationError(str(err), type="PermanentDeliveryFailure", non_retryable=True)
        await self._mark(row.id, status="sent", sent_at=utcnow())
        if self._after_accepted is not None:
            await self._after_accepted(request)
        return SendEmailResult(message_id=str(row.id), status="sent", recipient=row.recipient, subject=row.subject)

    async def _recorded(self, key: str) -> Message | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(Message).where(Message.idempotency_key == key))).one_or_none()
        return Message.model_validate(row._mapping) if row is not None else None

    async def _contact(self, contact_id: int) -> Contact:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(Contact).where(Contact.id == contact_id))).one_or_none()
        if row is None:
            raise ApplicationError(f"contact {contact_id} does not exist", type="ContactNotFound", non_retryable=True)
        return Contact.model_validate(row._mapping)

    async def _record(self, request: SendEmailRequest, message_uuid: uuid.UUID, contact: Contact, subject: str, links: list[str]) -> Message:
        values = dict(
            id=message_uuid,
            idempotency_key=request.idempotency_key,
            workflow_id=request.workflow_id,
            journey_id=request.journey_id,
            journey_version=request.journey_version,
            node_id=request.node_id,
            contact_id=contact.id,
            channel="email",
            recipient=contact.email,
            subject=subject,
            message_id_header=f"<{message_uuid}@{self._settings.message_id_domain}>",
            links=links,
            status="sending",
        )
        async with self._engine.begin() as conn:
            await conn.execute(insert(Message).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"]))
        # Another attempt may have won the insert race; its row is the message.
        recorded = await self._recorded(request.idempotency_key)
        assert recorded is not None
        return recorded

    async def _mark(self, message_id: uuid.UUID, **values) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(Message).where(Message.id == message_id).values(**values))

    def _build(self, row: Message, request: SendEmailRequest, subject: str, html: str | None, text: str | None) -> EmailMessage:
        email = EmailMessage()
        email["From"] = request.from_address or self._settings.mail_from
        email["To"] = row.recipient
        email["Subject"] = subject
        email["Message-ID"] = row.message_id_header
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


def _result(row: Message) -> SendEmailResult:
    return SendEmailResult(message_id=str(row.id), status="sent", recipient=row.recipient, subject=row.subject)
