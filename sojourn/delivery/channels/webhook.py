"""Calls to the brand's own systems: a signed JSON POST to an allow-listed host."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from sojourn.data.models import Contact
from sojourn.delivery.allow_list import host_allowed
from sojourn.delivery.channels import Outgoing, PermanentDeliveryFailure, Rendered
from sojourn.delivery.channels.http import HttpSender, post
from sojourn.delivery.tokens import webhook_signature
from sojourn.dsl.nodes import SendNode
from sojourn.dsl.templating import render_json

SIGNATURE_HEADER = "X-Sojourn-Signature"


class WebhookSender(HttpSender):
    repeat_safe = True  # every attempt carries the same Idempotency-Key for the receiver to drop repeats

    def render(self, node: SendNode, context: dict[str, Any], message_id: uuid.UUID, contact: Contact) -> Rendered:
        return Rendered(payload={"url": node.webhook.url, "body": render_json(node.webhook.body, context)})

    async def deliver(self, outgoing: Outgoing) -> str | None:
        url = outgoing.rendered.payload["url"]
        if not host_allowed(url, self._settings.webhook_allowed_hosts):
            host = httpx.URL(url).host
            raise PermanentDeliveryFailure(f"webhook host {host!r} is not in WEBHOOK_ALLOWED_HOSTS")
        body = json.dumps(outgoing.rendered.payload["body"], separators=(",", ":")).encode()
        response = await post(self._http, url, content=body, timeout=self._settings.provider_timeout, headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: webhook_signature(body, self._settings.outgoing_webhook_secret),
            "Idempotency-Key": str(outgoing.message_id),
            "X-Sojourn-Journey": f"{outgoing.journey_id}/{outgoing.node_id}",
        })
        return response.headers.get("x-request-id")
