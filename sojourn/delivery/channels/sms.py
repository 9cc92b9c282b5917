"""SMS through the Twilio Messages REST API (form-encoded, account SID and auth token)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sojourn.data.models import Contact
from sojourn.delivery.channels import Outgoing, PermanentDeliveryFailure, Rendered
from sojourn.delivery.channels.http import HttpSender, post
from sojourn.dsl.nodes import SendNode
from sojourn.dsl.sms_segments import sms_segments
from sojourn.dsl.templating import render

# Where Twilio posts each text's delivery status (the route is in api/routers/providers.py).
STATUS_CALLBACK_PATH = "/v1/providers/twilio/status"
# Spaces and punctuation in numbers stored before they were kept in E.164; Twilio wants bare E.164.
_NUMBER_PUNCTUATION = re.compile(r"[\s().-]")


class SmsSender(HttpSender):
    repeat_safe = False  # Twilio has no idempotency key: a repeat is a second text

    def render(self, node: SendNode, context: dict[str, Any], message_id: uuid.UUID, contact: Contact) -> Rendered:
        text = render(node.sms.text, context).strip()
        return Rendered(payload=text, units=sms_segments(text))

    async def deliver(self, outgoing: Outgoing) -> str | None:
        s = self._settings
        if not (s.twilio_account_sid and s.twilio_auth_token and s.twilio_from):
            raise PermanentDeliveryFailure("SMS is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM")
        sender = {"MessagingServiceSid" if s.twilio_from.startswith("MG") else "From": s.twilio_from}
        response = await post(
            self._http, f"{s.twilio_base_url.rstrip('/')}/2010-04-01/Accounts/{s.twilio_account_sid}/Messages.json",
            data={"To": _NUMBER_PUNCTUATION.sub("", outgoing.address), **sender, "Body": outgoing.rendered.payload,
                  # Our id in the (signed) URL: a callback can come before Twilio's sid is recorded.
                  "StatusCallback": f"{s.public_base_url.rstrip('/')}{STATUS_CALLBACK_PATH}?message={outgoing.message_id}"},
            auth=(s.twilio_account_sid, s.twilio_auth_token), timeout=s.provider_timeout)
        return response.json().get("sid")
