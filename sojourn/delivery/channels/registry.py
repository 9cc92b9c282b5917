"""Every channel's sender by name, built once per worker (and by the API's preview, which only renders)."""

from __future__ import annotations

import httpx

from sojourn.delivery.channels import ChannelSender, Connections
from sojourn.delivery.channels.email import EmailSender
from sojourn.delivery.channels.line import LineSender
from sojourn.delivery.channels.push import PushSender
from sojourn.delivery.channels.sms import SmsSender
from sojourn.delivery.channels.webhook import WebhookSender
from sojourn.delivery.smtp_pool import SmtpPool
from sojourn.dsl.channels import CHANNELS
from sojourn.settings import Settings

SENDERS = {
    "email": EmailSender,
    "sms": SmsSender,
    "push": PushSender,
    "line": LineSender,
    "webhook": WebhookSender,
}


def build_channels(settings: Settings, smtp: SmtpPool | None, http: httpx.AsyncClient | None) -> dict[str, ChannelSender]:
    """Without `smtp` and `http` the senders can render but not deliver."""
    unsent = set(CHANNELS) - set(SENDERS)
    if unsent:  # a channel whose spec is in the language but has no sender yet
        raise LookupError(f"no sender for channel(s) {', '.join(sorted(unsent))}")
    connections = Connections(smtp=smtp, http=http)
    return {name: SENDERS[name](settings, connections) for name in CHANNELS}
