"""Console sessions: signed in with an API key, held in a cookie.

The cookie is a Fernet token (encrypted, signed, timestamped: it expires after `SESSION_TTL`)
naming the key by its fingerprint, never the key itself. Its signing key is derived from every
configured API key, so removing or rotating a key ends every console session, and each request
reads the key's scope from the settings as they are now. Forms carry a CSRF token bound to the
session; the sign-in form, which comes before any session, a token matching a cookie of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request, Response

from api.deps import Needs
from sojourn.settings import ApiKey, Scope, Settings

COOKIE = "sojourn_console"
SIGN_IN_COOKIE = "sojourn_console_sign_in"
CSRF_FIELD = "csrf_token"
SESSION_TTL = 8 * 3600  # seconds: a working day, then sign in again
PATH = "/console"
_EDIT_SCOPES = Needs(Scope.editor).scopes  # the API's rule for changes: editor or admin


class NotSignedIn(Exception):
    """The request has no valid session: the console answers with the sign-in page."""


class Refused(Exception):
    """A signed-in request the session may not make (no CSRF token, a viewer changing something)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ConsoleSession:
    key: ApiKey
    csrf_token: str

    @property
    def can_edit(self) -> bool:
        return self.key.scope in _EDIT_SCOPES


def _derived(settings: Settings, purpose: bytes) -> bytes:
    material = "\0".join(sorted(key.secret for key in settings.api_keys)).encode()
    return hashlib.sha256(b"sojourn console " + purpose + b"\0" + material).digest()


def _fernet(settings: Settings) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derived(settings, b"session")))


def _csrf_token(settings: Settings, session_id: str) -> str:
    return hmac.new(_derived(settings, b"csrf"), session_id.encode(), hashlib.sha256).hexdigest()


def _cookie_options(settings: Settings) -> dict:
    return {"httponly": True, "samesite": "strict", "path": PATH,
            "secure": settings.public_base_url.lower().startswith("https://")}


def matching_key(settings: Settings, presented: str) -> ApiKey | None:
    # Every key is compared, so the time taken says nothing about which one nearly matched.
    matches = [key for key in settings.api_keys if hmac.compare_digest(presented.encode(), key.secret.encode())]
    return matches[0] if matches else None


def start(response: Response, settings: Settings, key: ApiKey) -> None:
    token = _fernet(settings).encrypt(json.dumps({"key": key.name, "id": secrets.token_urlsafe(16)}).encode())
    response.set_cookie(COOKIE, token.decode(), max_age=SESSION_TTL, **_cookie_options(settings))
    response.delete_cookie(SIGN_IN_COOKIE, path=PATH)


def end(response: Response, settings: Settings) -> None:
    response.delete_cookie(COOKIE, **_cookie_options(settings))


def current(request: Request) -> ConsoleSession:
    """The request's session, or NotSignedIn."""
    settings: Settings = request.app.state.settings
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise NotSignedIn
    try:
        held = json.loads(_fernet(settings).decrypt(cookie.encode(), ttl=SESSION_TTL))
    except (InvalidToken, ValueError) as exc:
        raise NotSignedIn from exc
    key = next((key for key in settings.api_keys if key.name == held.get("key")), None)
    if key is None:
        raise NotSignedIn
    return ConsoleSession(key, _csrf_token(settings, held["id"]))


async def form(request: Request) -> dict[str, str]:
    """A posted form's fields (the first value of each)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def check_csrf(fields: dict[str, str], expected: str) -> None:
    if not hmac.compare_digest(fields.get(CSRF_FIELD, "").encode(), expected.encode()):
        raise Refused("this form has expired or did not come from the console: reload the page and try again")


async def changing(request: Request) -> tuple[ConsoleSession, dict[str, str]]:
    """A form that changes something: a session, its CSRF token and an editor's scope."""
    session = current(request)
    fields = await form(request)
    check_csrf(fields, session.csrf_token)
    if not session.can_edit:
        raise Refused(f"this needs an API key with scope {Needs(Scope.editor).described()}; "
                      f"you signed in with a key whose scope is {session.key.scope}")
    return session, fields


def sign_in_token(request: Request) -> str:
    """The sign-in form's CSRF token: the one its cookie already holds, else a new one."""
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)


def keep_sign_in_token(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(SIGN_IN_COOKIE, token, max_age=3600, **_cookie_options(settings))
