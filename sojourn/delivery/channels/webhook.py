"""Calls to the brand's own systems: a signed JSON POST to an allow-listed host at a public address
(see `sojourn.delivery.allow_list`)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from sojourn.data.models import Contact
from sojourn.delivery.allow_list import DestinationRefused, WebhookPolicy, pin
from sojourn.delivery.channels import Outgoing, PermanentDeliveryFailure, Rendered, TransientDeliveryFailure
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
        try:
            # Connect to the address checked here, never to what a second lookup might answer.
            destination = await pin(url, WebhookPolicy.of(self._settings))
        except DestinationRefused as refused:
            raise PermanentDeliveryFailure(f"webhook refused: {url} {refused}") from None
        except OSError as err:
            raise TransientDeliveryFailure(f"could not resolve {httpx.URL(url).host}: {err}") from err
        body = json.dumps(outgoing.rendered.payload["body"], separators=(",", ":")).encode()
        response = await post(self._http, str(destination.url), content=body, timeout=self._settings.provider_timeout,
                              extensions=destination.extensions, headers={
            **destination.headers,
            "Content-Type": "application/json",
            SIGNATURE_HEADER: webhook_signature(body, self._settings.outgoing_webhook_secret),
            "Idempotency-Key": str(outgoing.message_id),
            "X-Sojourn-Journey": f"{outgoing.journey_id}/{outgoing.node_id}",
        })
        return response.headers.get("x-request-id")
