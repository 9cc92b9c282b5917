"""Email over SMTP: rendered subject, text and HTML, tracked links, one-click unsubscribe."""

from __future__ import annotations

import uuid
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from sojourn.data.models import Contact
from sojourn.delivery.channels import Connections, Outgoing, Rendered
from sojourn.delivery.tracking import instrument_html, unsubscribe_url
from sojourn.dsl.nodes import SendNode
from sojourn.dsl.templating import render_message
from sojourn.settings import Settings


class EmailSender:
    # Mail servers deliver a repeated Message-ID again: once the server may have taken a message,
    # it is not sent again. The pool says when that is (the DATA command), so everything before
    # it (connecting, a refused recipient) is retried as freely as a repeat-safe channel's.
    repeat_safe = False
    reports_hand_over = True

    def __init__(self, settings: Settings, connections: Connections) -> None:
        self._settings = settings
        self._smtp = connections.smtp

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
        await self._smtp.send(self._build(outgoing), outgoing.handing_over)
        return self.message_id_header(outgoing.message_id)

    def message_id_header(self, message_id: uuid.UUID) -> str:
        return f"<{message_id}@{self._settings.message_id_domain}>"

    def _build(self, outgoing: Outgoing) -> Message:
        # The compat32 MIME classes: for headers we write ourselves they build and flatten
        # at a third of EmailMessage's cost, which parses every header it is given.
        payload = outgoing.rendered.payload
        html, text = payload["html"], payload["text"]
        parts = [_part(body, subtype) for body, subtype in ((text, "plain"), (html, "html")) if body is not None]
        if len(parts) == 1:
            email = parts[0]
        else:
            email = MIMEMultipart("alternative")
            for part in parts:
                email.attach(part)
        name, address = parseaddr(payload["from"] or self._settings.mail_from)
        email["From"] = formataddr((name, address), charset="utf-8")
        email["To"] = outgoing.address
        subject = outgoing.rendered.subject
        email["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
        email["Message-ID"] = self.message_id_header(outgoing.message_id)
        email["Date"] = formatdate(localtime=False)
        email["X-Sojourn-Journey"] = f"{outgoing.journey_id}/{outgoing.node_id}"
        # RFC 8058: mail clients show an unsubscribe button that POSTs here, no page in between.
        email["List-Unsubscribe"] = f"<{self.unsubscribe_url(outgoing.message_id)}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return email


# Lines longer than this break 7bit transport (RFC 5322); such bodies go base64 instead.
_MAX_7BIT_LINE = 998


def _part(body: str, subtype: str) -> MIMEText:
    if body.isascii() and all(len(line) <= _MAX_7BIT_LINE for line in body.splitlines()):
        return MIMEText(body, subtype, "us-ascii")
    return MIMEText(body, subtype, "utf-8")  # base64
