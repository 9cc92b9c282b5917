"""Public tracking endpoints: the open pixel and tracked links, both with signed tokens."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import not_found
from sojourn import engagement
from sojourn.tracking import parse_tracking_token

router = APIRouter(prefix="/t", tags=["tracking"], include_in_schema=True)

_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


@router.get("/o/{token}", response_class=Response, responses={200: {"content": {"image/gif": {}}}})
async def open_pixel(token: str, session: SessionDep, client: TemporalDep, settings: SettingsDep) -> Response:
    parsed = parse_tracking_token(token, settings.tracking_secret)
    if parsed is None or parsed[0] != "opened":
        raise not_found("tracking token")
    message = await engagement.find_message(session, parsed[1])
    if message is None:
        raise not_found("tracking token")
    await engagement.record(session, client, message, "opened", source="pixel")
    return Response(_GIF, media_type="image/gif", headers=_NO_CACHE)


@router.get("/c/{token}", response_class=RedirectResponse, status_code=302)
async def click(token: str, session: SessionDep, client: TemporalDep, settings: SettingsDep) -> RedirectResponse:
    parsed = parse_tracking_token(token, settings.tracking_secret)
    if parsed is None or parsed[0] != "clicked":
        raise not_found("tracking token")
    _, message_id, index = parsed
    message = await engagement.find_message(session, message_id)
    # Only a URL that was in this very message: the token cannot become an open redirect.
    if message is None or index is None or not 0 <= index < len(message.links):
        raise not_found("tracking token")
    url = message.links[index]
    await engagement.record(session, client, message, "clicked", source="link", url=url)
    return RedirectResponse(url, status_code=302, headers=_NO_CACHE)
