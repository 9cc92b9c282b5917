"""App push through Firebase Cloud Messaging HTTP v1 (`messages:send`, OAuth bearer token)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from sojourn.data.models import Contact
from sojourn.delivery.channels import AddressRejected, Connections, Outgoing, PermanentDeliveryFailure, Rendered
from sojourn.delivery.channels.google_auth import ServiceAccountTokens
from sojourn.delivery.channels.http import HttpSender, post
from sojourn.dsl.channels import PushContent
from sojourn.dsl.durations import parse_duration
from sojourn.dsl.nodes import SendNode
from sojourn.dsl.templating import render, render_json
from sojourn.settings import Settings

# APNs' priorities: 10 delivers at once (and may wake the device), 5 when the device sees fit.
_APNS_PRIORITY = {"high": "10", "normal": "5"}


def _platform_options(content: PushContent) -> dict[str, Any]:
    """A push node's delivery options as FCM v1's `android` and `apns` blocks (none if unset)."""
    android: dict[str, Any] = {}
    apns: dict[str, str] = {}
    if content.ttl is not None:
        seconds = int(parse_duration(content.ttl).total_seconds())
        android["ttl"] = f"{seconds}s"
        apns["apns-expiration"] = str(int(time.time()) + seconds)  # APNs wants the moment it expires
    if content.priority is not None:
        android["priority"] = content.priority.upper()
        apns["apns-priority"] = _APNS_PRIORITY[content.priority]
    if content.collapse_key is not None:
        android["collapse_key"] = content.collapse_key
        apns["apns-collapse-id"] = content.collapse_key
    return {**({"android": android} if android else {}), **({"apns": {"headers": apns}} if apns else {})}


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
        payload = {"notification": notification, "data": data, **_platform_options(content)}
        return Rendered(payload=payload, subject=notification.get("title"))

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
            headers={"Authorization": f"Bearer {token}"}, timeout=s.provider_timeout, accept=_REFUSALS)
        if response.status_code in _REFUSALS:
            raise _refusal(response, outgoing.address)
        return response.json().get("name")


# FCM's answers about the token itself: 404 UNREGISTERED (the app was uninstalled, or the token
# expired) and 400 INVALID_ARGUMENT naming the token (it was never one).
_REFUSALS = frozenset({400, 404})


def _refusal(response: httpx.Response, token: str) -> PermanentDeliveryFailure:
    """What a 400 or 404 from FCM means: the token is dead (AddressRejected), or the request was refused."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    details = error.get("details") or []
    codes = {d.get("errorCode") for d in details if isinstance(d, dict)}
    fields = {v.get("field") for d in details if isinstance(d, dict) for v in d.get("fieldViolations") or []}
    message = str(error.get("message") or response.text[:300])
    if "UNREGISTERED" in codes:
        return AddressRejected(f"FCM: the push token is no longer registered ({message}); removed from the contact",
                               token)
    if "INVALID_ARGUMENT" in codes and ("message.token" in fields or "registration token" in message.lower()):
        return AddressRejected(f"FCM: not a valid push token ({message}); removed from the contact", token)
    return PermanentDeliveryFailure(f"{response.status_code} from FCM: {message}")
