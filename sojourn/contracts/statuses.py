"""The states a message and a run can be in, as stored in Postgres and reported by the API.
The values are stored in rows and histories and must not change."""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    SENT = "sent"
    UNCONFIRMED = "unconfirmed"  # handed to a provider with no repeat-safe id; its answer was lost
    SKIPPED = "skipped"  # consent, suppression, or a hold with `skip`
    FAILED = "failed"  # refused for good, or a template failed
    DEFERRED = "deferred"  # held by quiet hours or a cap until `deferred_until`
    SENDING = "sending"  # handed to a provider, answer pending (or lost with a crashed attempt)
    RETRYING = "retrying"  # the provider said "not now": another attempt cannot duplicate it


# Outcomes a retried attempt finds and returns without sending again.
MESSAGE_DONE = (MessageStatus.SENT, MessageStatus.UNCONFIRMED, MessageStatus.SKIPPED)


class RunStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    EXITED = "exited"  # an exit event or a goal with `exit`
    CANCELLED = "cancelled"
