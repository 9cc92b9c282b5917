"""The send activities: Temporal's entry points to the send path (`sojourn.delivery.send`)."""

from __future__ import annotations

from temporalio import activity

from sojourn.contracts.send import (
    SEND_ACTIVITY,
    SEND_EMAIL_ACTIVITY,
    SendEmailRequest,
    SendEmailResult,
    SendRequest,
    SendResult,
)
from sojourn.delivery.send import Sender
from sojourn.services.journey_data import JourneyData


class SendActivities:
    def __init__(self, sender: Sender, journey_data: JourneyData | None = None) -> None:
        self._sender = sender
        self._journey_data = journey_data  # writes the steps a run hands over with its send

    @activity.defn(name=SEND_ACTIVITY)
    async def send(self, request: SendRequest) -> SendResult:
        if request.steps is not None and self._journey_data is not None:
            await self._journey_data.record_steps(request.steps)
        # The run's time of this attempt (the server's, so a retry hours later knows it is later).
        result = await self._sender.deliver(request, activity.info().current_attempt_scheduled_time)
        activity.logger.info(
            "send %s to contact %s: %s%s", request.node_id, request.contact_id, result.status,
            f" ({result.reason})" if result.reason else "",
            extra={"journey_id": request.journey_id, "contact_id": request.contact_id,
                   "message_id": result.message_id, "node_id": request.node_id, "channel": result.channel,
                   "status": result.status})
        return result

    @activity.defn(name=SEND_EMAIL_ACTIVITY)
    async def send_email(self, request: SendEmailRequest) -> SendEmailResult:
        """The email-only send of runs started before channels existed."""
        node = {"id": request.node_id, "type": "send", "channel": "email", "subject": request.subject,
                "html": request.html, "text": request.text, "from": request.from_address,
                "track": request.track, "next": request.node_id}
        result = await self.send(SendRequest(
            idempotency_key=request.idempotency_key, workflow_id=request.workflow_id, journey_id=request.journey_id,
            journey_version=request.journey_version, node_id=request.node_id, contact_id=request.contact_id,
            node=node, event=request.event))
        return SendEmailResult(message_id=result.message_id if result.status == "sent" else "", status=result.status,
                               recipient=result.recipient, subject=result.subject, reason=result.reason)
