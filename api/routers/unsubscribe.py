"""The unsubscribe link of every email: a confirmation page (GET) and the RFC 8058 one-click POST.
An unknown or forged token is a 404, as a page to a browser (see `api.pages`)."""

from __future__ import annotations

import html

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.pages import page
from api.routing import resource_router
from sojourn.services import engagement

router = resource_router(prefix="/u", tags=["unsubscribe"], api_key=False)


@router.get("/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """Asks before unsubscribing: link scanners fetch every URL in a message, people press the button."""
    subscription = await engagement.subscription(session, settings.tracking_secrets, token)
    recipient = html.escape(subscription.recipient or "")
    if subscription.unsubscribed:
        return page("Unsubscribed", f"<p>{recipient} is unsubscribed.</p>")
    return page("Unsubscribe", (
        f"<p>Stop {html.escape(subscription.channel)} messages to <b>{recipient}</b>?</p>"
        f'<form method="post"><button type="submit">Unsubscribe</button></form>'))


@router.post("/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """Unsubscribes at once: the page's button, or a mail client's one-click POST
    (`List-Unsubscribe=One-Click`, RFC 8058). Repeating it changes nothing."""
    one_click = b"List-Unsubscribe=One-Click" in await request.body()
    subscription = await engagement.unsubscribe(session, settings.tracking_secrets, token, one_click)
    return page("Unsubscribed", f"<p>{html.escape(subscription.recipient or '')} will get no more "
                                f"{html.escape(subscription.channel)} messages from us.</p>")
