"""App push through Firebase Cloud Messaging HTTP v1 (`messages:send`, OAuth bearer token)."""

from __future__ import annotations

import uuid
from typing import Any

from sojourn.data.models import Contact
from sojourn.delivery.channels import Connections, Outgoing, PermanentDeliveryFailure, Rendered
from sojourn.delivery.channels.google_auth import ServiceAccountTokens
from sojourn.delivery.channels.http import HttpSender, post
from sojourn.dsl.nodes import SendNode
from sojourn.dsl.templating import render, render_json
from sojourn.settings import Settings


class PushSender(HttpSender):
    repeat_safe = False  # FCM has no idempotency key: a repeat is a second notification

    def __init__(self, settings: Settings, connections: Connections) -> None:
        super().__init__(settings, connections)
        self._tokens: ServiceAccountTokens | None = None
        if settings.fcm_service_account_file and not settings.fcm_access_token:
            self._tokens = ServiceAccountTokens(settings.fcm_service_account_file, connections.http)

    def render(self, node: SendNode, context: dict[str, Any], message_id: uuid.UUID, contact: Contact) -> Rendered:
        content = node.push
        notification = {"body": render(content.body, context).strip()}
        if content.title is not None:
            notification["title"] = render(content.title, context).strip()
        # Apps tell a repeat by this id, and find the journey that sent it.
        data = {**render_json(content.data, context), "sojourn_message_id": str(message_id)}
        return Rendered(payload={"notification": notification, "data": data}, subject=notification.get("title"))

    async def deliver(self, outgoing: Outgoing) -> str | None:
        s = self._settings
        project = s.fcm_project_id or (self._tokens and self._tokens.project_id)
        if not (project and (s.fcm_access_token or self._tokens)):
            raise PermanentDeliveryFailure("push is not configured: set FCM_SERVICE_ACCOUNT_FILE "
                                           "(or FCM_PROJECT_ID and FCM_ACCESS_TOKEN)")
        token = s.fcm_access_token or await self._tokens.token()
        response = await post(
            self._http, f"{s.fcm_base_url.rstrip('/')}/v1/projects/{project}/messages:send",
            json={"message": {"token": outgoing.address, **outgoing.rendered.payload}},
            headers={"Authorization": f"Bearer {token}"}, timeout=s.provider_timeout)
        return response.json().get("name")
