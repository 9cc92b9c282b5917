"""Callbacks from providers in their own wire formats: Twilio's delivery statuses and inbound
texts (form-encoded, X-Twilio-Signature, answered with TwiML), SendGrid's Event Webhook (JSON,
signed with ECDSA)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl

from fastapi import Request, Response
from twilio.twiml.messaging_response import MessagingResponse

from api.deps import EngagementSignalsDep, SessionDep, SettingsDep
from api.errors import ApiError, parsed
from api.routing import refusal, resource_router
from api.schemas.common import inline_schema
from api.schemas.providers import ProviderEventResult, ProviderEventsResponse, SendGridEvents
from sojourn.services import email_events, sms_callbacks

router = resource_router(prefix="/v1/providers", tags=["providers"], api_key=False)

_TWILIO_SIGNATURE = "X-Twilio-Signature"
_TWILIO_RESPONSES = {401: refusal(f"Missing or invalid {_TWILIO_SIGNATURE}."),
                     503: refusal("TWILIO_AUTH_TOKEN is not set.")}
_FORM = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
    "schema": {"type": "object", "additionalProperties": {"type": "string"}}}}}}
_TWIML = {200: {"description": "TwiML.", "content": {"application/xml": {"schema": {"type": "string"}}}}}


async def _twilio_form(request: Request, settings) -> dict[str, str]:
    """The form Twilio posted, once its signature checks out. Twilio signs the URL it called,
    which is ours as the public see it (PUBLIC_BASE_URL), not as a proxy in front passes it on."""
    params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not sms_callbacks.signed_by_twilio(url, params, request.headers.get(_TWILIO_SIGNATURE),
                                          settings.twilio_auth_token):
        raise ApiError(401, "invalid_signature", f"missing or invalid {_TWILIO_SIGNATURE} header")
    return params


@router.post("/twilio/status", status_code=204, responses=_TWILIO_RESPONSES, openapi_extra=_FORM)
async def twilio_status(request: Request, session: SessionDep, signals: EngagementSignalsDep,
                        settings: SettingsDep) -> Response:
    """Twilio's StatusCallback for each text we send: `delivered` records a delivery;
    `undelivered` and `failed` record `bounced` when the number cannot receive texts (errors
    21211, 21612, 21614, 30005, 30006: the contact is suppressed, as by an email hard bounce),
    else `undelivered`; error 21610 (the person texted STOP to the carrier) also withdraws SMS
    consent. Statuses on the way (queued, sending, sent) change nothing."""
    outcome = await sms_callbacks.record_status(session, signals, await _twilio_form(request, settings),
                                                request.query_params.get("message"))
    return Response(status_code=204, headers={"X-Sojourn-Outcome": outcome})


@router.post("/twilio/inbound", response_class=Response, responses={**_TWILIO_RESPONSES, **_TWIML},
             openapi_extra=_FORM)
async def twilio_inbound(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """A text sent to our Twilio number (its Messaging webhook). The whole text, in any case:
    STOP, STOPALL, UNSUBSCRIBE, CANCEL, END or QUIT withdraw SMS consent of every contact with
    that number; START, YES or UNSTOP give it back; HELP or INFO is answered with `SMS_HELP_TEXT`.
    Answers TwiML (a reply only to HELP: Twilio confirms STOP and START itself)."""
    outcome = await sms_callbacks.record_inbound(session, await _twilio_form(request, settings),
                                                 settings.sms_help_text)
    twiml = MessagingResponse()
    if outcome.reply:
        twiml.message(outcome.reply)
    return Response(str(twiml), media_type="application/xml", headers={"X-Sojourn-Outcome": outcome.action})


_SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
_SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


@router.post("/sendgrid/events", response_model=ProviderEventsResponse, responses={
    401: refusal(f"Missing or invalid {_SENDGRID_SIGNATURE}, or a timestamp more than 5 minutes away."),
    503: refusal("SENDGRID_WEBHOOK_PUBLIC_KEY is not set.")},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": inline_schema(SendGridEvents)}}}})
async def sendgrid_events(request: Request, session: SessionDep, signals: EngagementSignalsDep,
                          settings: SettingsDep) -> ProviderEventsResponse:
    """SendGrid's Event Webhook, verified with its ECDSA signature over the timestamp and the
    body. Each event finds its message by the custom argument `sojourn_message_id`, else by
    `smtp-id` (our Message-ID). `delivered`, `open` and `click` are recorded as ours (Apple's
    machine opens flagged automated); `bounce` is a hard bounce and `spamreport` a complaint,
    both suppressing the contact; a `blocked` bounce and `dropped` are recorded as `undelivered`;
    `unsubscribe` and `group_unsubscribe` withdraw email consent; others are ignored."""
    body = await request.body()
    if not email_events.signed_by_sendgrid(body, request.headers.get(_SENDGRID_SIGNATURE),
                                           request.headers.get(_SENDGRID_TIMESTAMP),
                                           settings.sendgrid_webhook_public_key, settings.webhook_tolerance):
        raise ApiError(401, "invalid_signature", f"missing or invalid {_SENDGRID_SIGNATURE} (or a stale timestamp)")
    events = [email_events.SendGridEvent(
        event=e.event, timestamp=e.timestamp, sg_event_id=e.sg_event_id, smtp_id=e.smtp_id,
        sojourn_message_id=e.sojourn_message_id, url=e.url, bounce_type=e.type,
        machine_open=bool(e.sg_machine_open)) for e in parsed(SendGridEvents, body).root]
    statuses = await email_events.record_sendgrid_events(session, signals, events,
                                                         timedelta(seconds=settings.automated_click_window))
    return ProviderEventsResponse(results=[ProviderEventResult(index=i, status=s) for i, s in enumerate(statuses)])
