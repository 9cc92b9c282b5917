"""Provider engagement webhooks, authenticated by an HMAC signature of a timestamp and the raw body."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request

from api.deps import EngagementSignalsDep, EngineDep, SettingsDep
from api.errors import ApiError, parsed
from api.routing import refusal, resource_router
from api.schemas.common import inline_schema
from api.schemas.webhooks import WebhookBatch, WebhookResponse, WebhookResult
from sojourn.services import engagement

router = resource_router(prefix="/v1/webhooks", tags=["webhooks"], api_key=False)

SIGNATURE_HEADER = "X-Sojourn-Signature"


@router.post("/engagement", response_model=WebhookResponse,
             responses={401: refusal(f"{SIGNATURE_HEADER} missing, malformed, outside WEBHOOK_TOLERANCE "
                                     "or not matching the body.")},
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "schema": inline_schema(WebhookBatch)}}}})
async def engagement_webhook(request: Request, engine: EngineDep, signals: EngagementSignalsDep,
                             settings: SettingsDep) -> WebhookResponse:
    """Delivered / opened / clicked / bounced / complained / unsubscribed events, signed with
    `X-Sojourn-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the webhook secret>`;
    refused when `t` is more than `WEBHOOK_TOLERANCE` seconds from now."""
    body = await request.body()
    problem = engagement.provider_signature_problem(body, request.headers.get(SIGNATURE_HEADER),
                                                    settings.webhook_secrets,
                                                    timedelta(seconds=settings.webhook_tolerance))
    if problem is not None:
        raise ApiError(401, "invalid_signature", f"{SIGNATURE_HEADER} header {problem}")
    statuses = await engagement.record_provider_events(engine, signals, parsed(WebhookBatch, body).events,
                                                       timedelta(seconds=settings.automated_click_window))
    return WebhookResponse(results=[WebhookResult(index=i, status=status) for i, status in enumerate(statuses)])
