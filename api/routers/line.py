"""LINE's webhook: follow and unfollow events keep each contact's LINE consent current."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from api.deps import SessionDep, SettingsDep
from api.errors import ApiError, parsed
from api.schemas import LineBatch, LineResponse, LineResult
from sojourn.data import consent
from sojourn.data.models import Contact
from sojourn.delivery.tokens import verify_line_signature

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

_CONSENT = {"follow": "subscribed", "unfollow": "unsubscribed"}


@router.post("/line", response_model=LineResponse)
async def line_webhook(request: Request, session: SessionDep, settings: SettingsDep) -> Any:
    """LINE Messaging API webhook, verified with `x-line-signature` (HMAC-SHA256 of the body
    under the channel secret). `follow` subscribes the contact whose `line_user_id` is the
    event's user; `unfollow` (the user blocked the account) unsubscribes it."""
    if not settings.line_channel_secret:
        raise ApiError(503, "line_not_configured", "set LINE_CHANNEL_SECRET to receive LINE webhooks")
    body = await request.body()
    if not verify_line_signature(body, request.headers.get("x-line-signature"), settings.line_channel_secret):
        raise ApiError(401, "invalid_signature", "missing or invalid x-line-signature header")
    batch = parsed(LineBatch, body)
    results = []
    for index, event in enumerate(batch.events):
        status = _CONSENT.get(event.type)
        user = event.source.userId if event.source else None
        if status is None or user is None:
            results.append(LineResult(index=index, status="ignored"))
            continue
        contact_id = (await session.execute(select(Contact.id).where(Contact.line_user_id == user))).scalar()
        if contact_id is None:
            results.append(LineResult(index=index, status="unknown_user"))
            continue
        await consent.set_consent(session, contact_id, "line", status, source="line_webhook")
        results.append(LineResult(index=index, status=status))
    await session.commit()
    return LineResponse(results=results)
