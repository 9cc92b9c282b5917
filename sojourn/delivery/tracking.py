"""Open and click tracking: rewrite a rendered email's links and add an open pixel.

Token payloads (signed with `sojourn.delivery.tokens`):
- open:  `o:{message_id}`
- click: `c:{message_id}:{index}`, where index points into the message's list of original URLs.
"""

from __future__ import annotations

import html as htmllib
import re
import uuid
from typing import Literal
from urllib.parse import urlsplit

from sojourn.delivery.tokens import sign, verify_any
from sojourn.dsl.links import hrefs, is_trackable

TrackingKind = Literal["opened", "clicked"]

_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _url(base_url: str, path: str, payload: str, secret: str) -> str:
    return f"{base_url.rstrip('/')}/t/{path}/{sign(payload, secret)}"


def is_unsubscribe_link(url: str, base_url: str) -> bool:
    """Whether `url` is our unsubscribe route (`{{ unsubscribe_url }}` or the same URL written out)."""
    link, ours = urlsplit(url), urlsplit(base_url)
    return (link.scheme.lower(), link.netloc.lower()) == (ours.scheme.lower(), ours.netloc.lower()) and \
        link.path.startswith(f"{ours.path.rstrip('/')}/u/")


def instrument_html(
    html: str, message_id: uuid.UUID, base_url: str, secret: str
) -> tuple[str, list[str]]:
    """Rewrite web links to signed click URLs and add an open pixel.

    The unsubscribe link stays as it is: opening its page is not engagement, and a journey
    waiting for a click must not move on because someone is leaving.
    Returns the new HTML and the original URLs; a click token's index points into that list.
    """
    urls: list[str] = []
    index_of: dict[str, int] = {}
    pieces: list[str] = []
    position = 0
    for (start, end), url in hrefs(html):
        if not is_trackable(url) or is_unsubscribe_link(url, base_url):
            continue
        if url not in index_of:
            index_of[url] = len(urls)
            urls.append(url)
        tracked = _url(base_url, "c", f"c:{message_id}:{index_of[url]}", secret)
        pieces.append(html[position:start])
        pieces.append(f'href="{htmllib.escape(tracked, quote=True)}"')
        position = end
    pieces.append(html[position:])
    rewritten = "".join(pieces)

    pixel_url = htmllib.escape(_url(base_url, "o", f"o:{message_id}", secret), quote=True)
    pixel = f'<img src="{pixel_url}" width="1" height="1" alt="" style="display:none">'
    body_ends = list(_BODY_END.finditer(rewritten))
    if body_ends:
        at = body_ends[-1].start()
        rewritten = rewritten[:at] + pixel + rewritten[at:]
    else:
        rewritten += pixel
    return rewritten, urls


def parse_tracking_token(
    token: str, secrets: list[str]
) -> tuple[TrackingKind, uuid.UUID, int | None] | None:
    """("opened", message id, None) or ("clicked", message id, url index); None if invalid
    or signed by none of `secrets`."""
    payload = verify_any(token, secrets)
    if payload is None:
        return None
    parts = payload.split(":")
    try:
        if parts[0] == "o" and len(parts) == 2:
            return "opened", uuid.UUID(parts[1]), None
        if parts[0] == "c" and len(parts) == 3 and parts[2].isdecimal() and parts[2].isascii():
            return "clicked", uuid.UUID(parts[1]), int(parts[2])
    except ValueError:
        return None
    return None


def unsubscribe_url(base_url: str, message_id: uuid.UUID, secret: str) -> str:
    """The signed page (GET) and one-click endpoint (POST, RFC 8058) that unsubscribe a message's contact."""
    return f"{base_url.rstrip('/')}/u/{sign(f'u:{message_id}', secret)}"


def parse_unsubscribe_token(token: str, secrets: list[str]) -> uuid.UUID | None:
    """The message an unsubscribe token was made for; None if forged, altered, not one, or
    signed by none of `secrets`."""
    payload = verify_any(token, secrets)
    if payload is None or not payload.startswith("u:"):
        return None
    try:
        return uuid.UUID(payload[2:])
    except ValueError:
        return None
