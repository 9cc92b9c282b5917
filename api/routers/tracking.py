"""Public tracking endpoints: the open pixel and tracked links, both with signed tokens."""

from __future__ import annotations

import base64
from datetime import timedelta

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from api.deps import EngagementSignalsDep, EngineDep, SettingsDep
from api.routing import resource_router
from sojourn.services import engagement

router = resource_router(prefix="/t", tags=["tracking"], include_in_schema=True, api_key=False)

_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


@router.get("/o/{token}", response_class=Response, responses={200: {"content": {"image/gif": {}}}})
async def open_pixel(token: str, engine: EngineDep, signals: EngagementSignalsDep, settings: SettingsDep) -> Response:
    await engagement.track_open(engine, signals, settings.tracking_secrets, token)
    return Response(_GIF, media_type="image/gif", headers=_NO_CACHE)


# HEAD is answered like GET (link checkers must not see a broken link) but never counts as a click.
@router.get("/c/{token}", response_class=RedirectResponse, status_code=302)
@router.head("/c/{token}", response_class=RedirectResponse, status_code=302)
async def click(token: str, request: Request, engine: EngineDep, signals: EngagementSignalsDep,
                settings: SettingsDep) -> RedirectResponse:
    url = await engagement.track_click(engine, signals, settings.tracking_secrets, token,
                                       timedelta(seconds=settings.automated_click_window),
                                       head=request.method == "HEAD")
    return RedirectResponse(url, status_code=302, headers=_NO_CACHE)
