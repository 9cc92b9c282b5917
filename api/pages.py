"""Small HTML pages for people (the unsubscribe page), and the errors of routes that answer them:
a reader whose browser opened a link gets a page, not JSON."""

from __future__ import annotations

import html
from http import HTTPStatus

from fastapi import Request
from fastapi.responses import HTMLResponse

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">{body}</body></html>"""

_NOT_FOUND = ("<p>This link is not valid: it may have been cut short or mistyped, or it is no longer in use. "
              "Nothing was changed.</p>")


def page(title: str, body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """`body` is HTML: escape what it quotes."""
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def wants_page(request: Request) -> bool:
    """A route that answers HTML, asked by a client that accepts HTML (a browser), rather than a
    program asking for JSON or anything (`*/*`)."""
    route = request.scope.get("route")
    return getattr(route, "response_class", None) is HTMLResponse and \
        "text/html" in request.headers.get("accept", "").lower()


def error_page(status: int, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    body = _NOT_FOUND if status == 404 else f"<p>{html.escape(message)}</p>"
    return page(HTTPStatus(status).phrase, body, status, headers)
