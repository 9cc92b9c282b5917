"""LINE Messaging API push messages (`/v2/bot/message/push`, channel access token)."""

from __future__ import annotations

import uuid
from typing import Any

from sojourn.data.models import Contact
from sojourn.delivery.channels import Outgoing, PermanentDeliveryFailure, Rendered
from sojourn.delivery.channels.http import HttpSender, post
from sojourn.dsl.nodes import SendNode
from sojourn.dsl.templating import render, render_json


class LineSender(HttpSender):
    repeat_safe = True  # X-Line-Retry-Key: LINE accepts a key once and answers a repeat with 409

    def render(self, node: SendNode, context: dict[str, Any], message_id: uuid.UUID, contact: Contact) -> Rendered:
        content = node.line
        if content.text is not None:
            messages = [{"type": "text", "text": render(content.text, context).strip()}]
        else:
            messages = render_json(content.messages, context)
        summary = messages[0].get("text") or messages[0].get("altText")
        return Rendered(payload=messages, subject=summary)

    async def deliver(self, outgoing: Outgoing) -> str | None:
        s = self._settings
        if not s.line_channel_access_token:
            raise PermanentDeliveryFailure("LINE is not configured: set LINE_CHANNEL_ACCESS_TOKEN")
        url = f"{s.line_base_url.rstrip('/')}/v2/bot/message/push"
        request = dict(json={"to": outgoing.address, "messages": outgoing.rendered.payload},
                       headers={"Authorization": f"Bearer {s.line_channel_access_token}",
                                "X-Line-Retry-Key": str(outgoing.message_id)},
                       timeout=s.provider_timeout)
        response = await post(self._http, url, accept=frozenset({409}), **request)
        if response.status_code == 409:
            # A repeat of a key LINE accepted before: that earlier attempt went through.
            accepted = response.headers.get("x-line-accepted-request-id")
            if accepted is None:
                raise PermanentDeliveryFailure(f"409 from LINE: {response.text[:300]}")
            return accepted
        sent = response.json().get("sentMessages") or [{}]
        return sent[0].get("id") or response.headers.get("x-line-request-id")
