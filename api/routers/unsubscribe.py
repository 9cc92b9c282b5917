"""The unsubscribe link of every email: a confirmation page (GET) and the RFC 8058 one-click POST."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.errors import not_found
from sojourn.data import consent
from sojourn.data.models import Contact, ContactConsent
from sojourn.delivery.tracking import parse_unsubscribe_token
from sojourn.services import engagement

router = APIRouter(prefix="/u", tags=["unsubscribe"])

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">{body}</body></html>"""


async def _message_and_contact(session, settings, token: str):
    message_id = parse_unsubscribe_token(token, settings.tracking_secret)
    message = await engagement.find_message(session, message_id) if message_id else None
    contact = await session.get(Contact, message.contact_id) if message else None
    if contact is None:
        raise not_found("unsubscribe token")
    return message, contact


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), headers={"Cache-Control": "no-store"})


@router.get("/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """Asks before unsubscribing: link scanners fetch every URL in a message, people press the button."""
    message, contact = await _message_and_contact(session, settings, token)
    state = await session.get(ContactConsent, (contact.id, message.channel))
    if state is not None and state.status == "unsubscribed":
        return _page("Unsubscribed", f"<p>{html.escape(message.recipient or '')} is unsubscribed.</p>")
    return _page("Unsubscribe", (
        f"<p>Stop {html.escape(message.channel)} messages to <b>{html.escape(message.recipient or '')}</b>?</p>"
        f'<form method="post"><button type="submit">Unsubscribe</button></form>'))


@router.post("/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """Unsubscribes at once: the page's button, or a mail client's one-click POST
    (`List-Unsubscribe=One-Click`, RFC 8058). Repeating it changes nothing."""
    message, contact = await _message_and_contact(session, settings, token)
    one_click = b"List-Unsubscribe=One-Click" in await request.body()
    state = await session.get(ContactConsent, (contact.id, message.channel))
    if state is None or state.status != "unsubscribed":
        await consent.set_consent(session, contact.id, message.channel, "unsubscribed",
                                  source="one_click" if one_click else "unsubscribe_link")
        await session.commit()
    return _page("Unsubscribed", f"<p>{html.escape(message.recipient or '')} will get no more "
                                 f"{html.escape(message.channel)} messages from us.</p>")
