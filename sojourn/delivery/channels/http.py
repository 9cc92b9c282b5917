"""Provider requests over HTTP, with one rule for what each failure means."""

from __future__ import annotations

import email.utils
import time
import uuid

import httpx

from sojourn.delivery.channels import (
    Connections,
    PermanentDeliveryFailure,
    TransientDeliveryFailure,
    UnconfirmedDelivery,
)
from sojourn.settings import Settings

_BODY_IN_REASON = 300


class HttpSender:
    """A channel whose provider is called over HTTP, with the worker's shared client."""

    reports_hand_over = False  # one request: the send path marks it before the call

    def __init__(self, settings: Settings, connections: Connections) -> None:
        self._settings = settings
        self._http = connections.http

    def message_id_header(self, message_id: uuid.UUID) -> None:
        return None  # an email header


async def post(client: httpx.AsyncClient, url: str, accept: frozenset[int] = frozenset(), **request) -> httpx.Response:
    """POST to a provider; returns a 2xx response (or one in `accept`) or raises what the failure means.

    4xx other than 429: permanent. 429 and 5xx: transient, after the provider's
    Retry-After if it sent one. No connection: transient (nothing was sent). Sent but
    no answer: unconfirmed.
    """
    try:
        response = await client.post(url, **request)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
        raise TransientDeliveryFailure(f"could not reach {httpx.URL(url).host}: {type(err).__name__}") from err
    except httpx.TransportError as err:
        raise UnconfirmedDelivery(f"{httpx.URL(url).host} did not answer: {type(err).__name__}") from err
    if response.is_success or response.status_code in accept:
        return response
    reason = f"{response.status_code} from {httpx.URL(url).host}: {response.text[:_BODY_IN_REASON]}"
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientDeliveryFailure(reason, retry_after=_retry_after(response.headers.get("retry-after")))
    raise PermanentDeliveryFailure(reason)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdecimal():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
