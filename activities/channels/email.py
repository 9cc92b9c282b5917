"""Email over SMTP: rendered subject, text and HTML, tracked links, one-click unsubscribe."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from activities.channels import Outgoing, Rendered
from activities.smtp_pool import SmtpPool
from sojourn.definition import SendNode
from sojourn.models import Contact
from sojourn.settings import Settings
from sojourn.templating import render_message
from sojourn.tracking import instrument_html, unsubscribe_url


class EmailChannel:
    name = "email"
    repeat_safe = True  # a repeat carries the same Message-ID, which mail systems drop as a duplicate

    def __init__(self, settings: Settings, smtp: SmtpPool) -> None:
        self._settings = settings
        self._smtp = smtp

    def unsubscribe_url(self, message_id: uuid.UUID) -> str:
        return unsubscribe_url(self._settings.public_base_url, message_id, self._settings.tracking_secret)

    def render(self, node: SendNode, context: dict[str, Any], message_id: uuid.UUID, contact: Contact) -> Rendered:
        rendered = render_message(node.subject or "", node.html, node.text,
                                  {**context, "unsubscribe_url": self.unsubscribe_url(message_id)})
        html, links = rendered.html, []
        if html is not None and node.track:
            html, links = instrument_html(html, message_id, self._settings.public_base_url,
                                          self._settings.tracking_secret)
        return Rendered(payload={"from": node.from_, "html": html, "text": rendered.text},
                        subject=rendered.subject, links=links)

    async def deliver(self, outgoing: Outgoing) -> str:
        await self._smtp.send(self._build(outgoing))
        return self.message_id_header(outgoing.message_id)

    def message_id_header(self, message_id: uuid.UUID) -> str:
        return f"<{message_id}@{self._settings.message_id_domain}>"

    def _build(self, outgoing: Outgoing) -> EmailMessage:
        payload = outgoing.rendered.payload
        email = EmailMessage()
        email["From"] = payload["from"] or self._settings.mail_from
        email["To"] = outgoing.address
        email["Subject"] = outgoing.rendered.subject
        email["Message-ID"] = self.message_id_header(outgoing.message_id)
        email["Date"] = formatdate(localtime=False)
        email["X-Sojourn-Journey"] = f"{outgoing.journey_id}/{outgoing.node_id}"
        # RFC 8058: mail clients show an unsubscribe button that POSTs here, no page in between.
        email["List-Unsubscribe"] = f"<{self.unsubscribe_url(outgoing.message_id)}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        html, text = payload["html"], payload["text"]
        if text is not None:
            email.set_content(text)
            if html is not None:
                email.add_alternative(html, subtype="html")
        else:
            email.set_content(html, subtype="html")
        return email
