"""One interface for every channel's sender; one module per channel, listed in `registry`.

What a channel is (its name, address, consent rule, content model) is its spec in
`sojourn.dsl.channels`; its sender renders a send node's content for one contact and
delivers it. Delivery outcomes are exceptions the send activity maps onto Temporal:
permanent failures are not retried, transient ones are, and an unconfirmed delivery (the
provider may have accepted the request) is never sent again.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sojourn.data.models import Contact
from sojourn.dsl.nodes import SendNode

if TYPE_CHECKING:  # the pool raises this module's failures
    import httpx

    from sojourn.delivery.smtp_pool import SmtpPool


class PermanentDeliveryFailure(Exception):
    """The provider refused the message for good (a 4xx other than 429, an SMTP 5xx)."""


class AddressRejected(PermanentDeliveryFailure):
    """The provider says the address itself can never receive (FCM's UNREGISTERED token): the
    send fails for good and the address is removed from the contact."""

    def __init__(self, reason: str, address: str) -> None:
        super().__init__(reason)
        self.address = address


class TransientDeliveryFailure(Exception):
    """The provider did not take the message this time (429, 5xx, no connection): retry."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class UnconfirmedDelivery(Exception):
    """The request reached the provider but no answer came back: it may have been sent."""


@dataclass
class Rendered:
    """A message ready to deliver: what the provider receives, and what we record of it."""

    payload: Any
    subject: str | None = None  # recorded for people reading the history; email's subject, push's title
    links: list[str] = field(default_factory=list)
    units: int = 1  # what the message is billed as: an SMS's segments, one message elsewhere


async def _nothing() -> None:
    return None


@dataclass
class Outgoing:
    """Everything a channel needs to deliver one message once."""

    key: str  # the idempotency key, stable across attempts
    message_id: uuid.UUID  # derived from the key
    address: str
    rendered: Rendered
    journey_id: str
    node_id: str
    # Records that the provider may now take the message, for a sender that `reports_hand_over`.
    handing_over: Callable[[], Awaitable[None]] = _nothing


@dataclass(frozen=True, kw_only=True)
class Connections:
    """The worker's shared ways to reach providers; None where senders only render (the API's preview)."""

    smtp: SmtpPool | None = None
    http: httpx.AsyncClient | None = None


class ChannelSender(Protocol):
    # True when delivering the same message twice is harmless (email's Message-ID, LINE's
    # retry key, our webhooks' Idempotency-Key): an attempt whose outcome is unknown may
    # then simply be repeated. Otherwise it is recorded as unconfirmed and not repeated.
    repeat_safe: bool
    # False: the send path records the hand-over (`sending`) before `deliver`. True: `deliver`
    # calls `outgoing.handing_over()` itself at the last moment before the provider may take the
    # message (email's DATA), so a failure before it is retried instead of left unconfirmed.
    reports_hand_over: bool

    def render(self, node: SendNode, context: dict[str, Any], message_id: uuid.UUID, contact: Contact) -> Rendered: ...

    def message_id_header(self, message_id: uuid.UUID) -> str | None:
        """The Message-ID header recorded for replies and bounces to find the message (email's)."""
        ...

    async def deliver(self, outgoing: Outgoing) -> str | None:
        """Deliver; returns the provider's message id, if it gives one."""
        ...
