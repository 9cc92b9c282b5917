"""Every channel by name, built once per worker (and by the API's preview, which only renders)."""

from __future__ import annotations

import httpx

from sojourn.delivery.channels import Channel
from sojourn.delivery.channels.email import EmailChannel
from sojourn.delivery.channels.line import LineChannel
from sojourn.delivery.channels.push import PushChannel
from sojourn.delivery.channels.sms import SmsChannel
from sojourn.delivery.channels.webhook import WebhookChannel
from sojourn.delivery.smtp_pool import SmtpPool
from sojourn.settings import Settings


def build_channels(settings: Settings, smtp: SmtpPool | None, http: httpx.AsyncClient | None) -> dict[str, Channel]:
    """Without `smtp` and `http` the channels can render but not deliver."""
    channels = [EmailChannel(settings, smtp), SmsChannel(settings, http), PushChannel(settings, http),
                LineChannel(settings, http), WebhookChannel(settings, http)]
    return {channel.name: channel for channel in channels}
