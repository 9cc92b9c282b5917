"""Who may be messaged on which channel: consent per channel, global suppression.

Pure rules over a contact's stored state, used by the send activity before any
attempt (DESIGN.md decision 5: policy lives at the send).
"""

from __future__ import annotations

from collections.abc import Mapping

from sojourn.models import Contact

CONSENT_CHANNELS = ("email", "sms", "push", "line")
CONSENT_STATES = ("subscribed", "unsubscribed")
_ADDRESS = {"email": "email address", "sms": "phone number", "push": "push token", "line": "LINE user id"}


def address_of(contact: Contact, channel: str) -> str | None:
    return {"email": contact.email, "sms": contact.phone, "push": contact.push_token,
            "line": contact.line_user_id}.get(channel)


def refusal(contact: Contact, channel: str, consents: Mapping[str, str], transactional: bool,
            opt_in_channels: list[str]) -> str | None:
    """Why `contact` may not receive a message on `channel` now; None when it may.

    Webhooks reach the brand's own systems, not the contact, so no rule applies to them.
    Transactional messages skip marketing consent; suppression stops everything.
    """
    if channel == "webhook":
        return None
    if contact.suppressed_at is not None:
        return f"contact is suppressed ({contact.suppression_reason or 'no reason recorded'})"
    if not address_of(contact, channel):
        return f"contact has no {_ADDRESS[channel]}"
    if transactional:
        return None
    state = consents.get(channel)
    if state == "unsubscribed":
        return f"contact unsubscribed from {channel}"
    if state is None and channel in opt_in_channels:
        return f"contact has not opted in to {channel}"
    return None
