"""LINE's webhook: follow and unfollow events keep each LINE user's consent current."""

from __future__ import annotations

from fastapi import Request

from api.deps import SessionDep, SettingsDep, TriggersDep
from api.errors import ApiError, parsed
from api.routing import refusal, resource_router
from api.schemas.webhooks import LineBatch, LineResponse, LineResult
from sojourn.services import line_follows

router = resource_router(prefix="/v1/webhooks", tags=["webhooks"], api_key=False)


@router.post("/line", response_model=LineResponse, responses={
    401: refusal("Missing or invalid x-line-signature."), 503: refusal("LINE_CHANNEL_SECRET is not set.")})
async def line_webhook(request: Request, session: SessionDep, settings: SettingsDep,
                       triggers: TriggersDep) -> LineResponse:
    """LINE Messaging API webhook, verified with `x-line-signature` (HMAC-SHA256 of the body
    under the channel secret). `follow` subscribes the contact whose `line_user_id` is the
    event's user, and creates it (`line:<userId>`) if there is none; `unfollow` (the user
    blocked the account) unsubscribes it. Events apply in their `timestamp` order, within a
    batch and across batches: one older than the consent recorded is `stale` and changes nothing."""
    body = await request.body()
    if not line_follows.signed_by_line(body, request.headers.get("x-line-signature"), settings.line_channel_secret):
        raise ApiError(401, "invalid_signature", "missing or invalid x-line-signature header")
    events = [line_follows.LineEvent(type=event.type, user_id=event.source.userId if event.source else None,
                                     timestamp_ms=event.timestamp) for event in parsed(LineBatch, body).events]
    statuses = await line_follows.record_line_follows(session, triggers, events)
    return LineResponse(results=[LineResult(index=i, status=status) for i, status in enumerate(statuses)])
