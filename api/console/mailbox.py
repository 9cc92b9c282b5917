"""The console's development mailbox: what the embedded SMTP sink received, each email rendered
in a sandboxed frame (no scripts, no access to the console). Answered only where the dev mailbox
is enabled (DEV_MAILBOX_ENABLED, never in production)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from api.console import sessions
from api.console.pages import render
from api.deps import SessionDep
from api.routing import resource_router
from sojourn.dev.mailbox import list_mailbox

router = resource_router(api_key=False, prefix=sessions.PATH, include_in_schema=False,
                         default_response_class=HTMLResponse)
SHOWN = 50


@router.get("/mailbox")
async def mailbox_page(request: Request, db: SessionDep,
                       to: Annotated[str, Query(max_length=320)] = "") -> HTMLResponse:
    session = sessions.current(request)
    if not request.app.state.settings.dev_mailbox_enabled:
        return render(request, "missing.html", {"session": session, "message": (
            "the development mailbox is off here (DEV_MAILBOX_ENABLED=false, always so in production)")}, 404)
    recipient = to.strip()
    found = await list_mailbox(db, to=recipient or None, limit=SHOWN)
    return render(request, "mailbox.html", {"session": session, "messages": found, "to": recipient, "shown": SHOWN})
