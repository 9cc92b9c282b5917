"""Public tracking endpoints: the open pixel and tracked links, both with signed tokens."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import not_found
from sojourn.delivery.tracking import parse_tracking_token
from sojourn.services import engagement

router = APIRouter(prefix="/t", tags=["tracking"], include_in_schema=True)

_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


async def _tracked(session, settings, token: str, kind: str):
    """The message a valid token of this kind names, and the link index; 404 for anything else."""
    parsed = parse_tracking_token(token, settings.tracking_secret)
    message = await engagement.find_message(session, parsed[1]) if parsed and parsed[0] == kind else None
    if message is None:
        raise not_found("tracking token")
    return message, parsed[2]


@router.get("/o/{token}", response_class=Response, responses={200: {"content": {"image/gif": {}}}})
async def open_pixel(token: str, session: SessionDep, client: TemporalDep, settings: SettingsDep) -> Response:
    message, _ = await _tracked(session, settings, token, "opened")
    await engagement.record(session, client, message, "opened", source="pixel")
    return Response(_GIF, media_type="image/gif", headers=_NO_CACHE)


@router.get("/c/{token}", response_class=RedirectResponse, status_code=302)
async def click(token: str, session: SessionDep, client: TemporalDep, settings: SettingsDep) -> RedirectResponse:
    message, index = await _tracked(session, settings, token, "clicked")
    # Only a URL that was in this very message: the token cannot become an open redirect.
    if index is None or not 0 <= index < len(message.links):
        raise not_found("tracking token")
    url = message.links[index]
    await engagement.record(session, client, message, "clicked", source="link", url=url)
    return RedirectResponse(url, status_code=302, headers=_NO_CACHE)
