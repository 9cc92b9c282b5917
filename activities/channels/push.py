"""App push through Firebase Cloud Messaging HTTP v1 (`messages:send`, OAuth bearer token)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from activities.channels import Outgoing, PermanentDeliveryFailure, Rendered
from activities.channels.http import post
from sojourn.definition import SendNode
from sojourn.models import Contact
from sojourn.settings import Settings
from sojourn.templating import render, render_json


class PushChannel:
    name = "push"
    repeat_safe = False  # FCM has no idempotency key: a repeat is a second notification

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

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
        if not (s.fcm_project_id and s.fcm_access_token):
            raise PermanentDeliveryFailure("push is not configured: set FCM_PROJECT_ID and FCM_ACCESS_TOKEN")
        response = await post(
            self._http, f"{s.fcm_base_url.rstrip('/')}/v1/projects/{s.fcm_project_id}/messages:send",
            json={"message": {"token": outgoing.address, **outgoing.rendered.payload}},
            headers={"Authorization": f"Bearer {s.fcm_access_token}"}, timeout=s.provider_timeout)
        return response.json().get("name")
