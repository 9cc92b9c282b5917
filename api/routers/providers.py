"""Callbacks from providers in their own wire formats: Twilio's delivery statuses and inbound
texts (form-encoded, X-Twilio-Signature, answered with TwiML)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request, Response
from twilio.twiml.messaging_response import MessagingResponse

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import ApiError
from api.routing import refusal, resource_router
from sojourn.services import sms_callbacks

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
async def twilio_status(request: Request, session: SessionDep, client: TemporalDep,
                        settings: SettingsDep) -> Response:
    """Twilio's StatusCallback for each text we send: `delivered` records a delivery;
    `undelivered` and `failed` record `bounced` when the number cannot receive texts (errors
    21211, 21612, 21614, 30005, 30006: the contact is suppressed, as by an email hard bounce),
    else `undelivered`; error 21610 (the person texted STOP to the carrier) also withdraws SMS
    consent. Statuses on the way (queued, sending, sent) change nothing."""
    outcome = await sms_callbacks.record_status(session, client, await _twilio_form(request, settings))
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
