"""HMAC-signed tokens for tracking URLs, and HMAC signatures for webhook bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# 16 bytes of HMAC-SHA256 keeps tracking URLs short while forgery stays at 2^-128.
_MAC_BYTES = 16
_TOKEN = re.compile(r"^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$")
_WEBHOOK_PREFIX = "sha256="


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _require(secret: str) -> bytes:
    if not secret:
        raise ValueError("a signing secret must not be empty")
    return secret.encode("utf-8")


def _mac(encoded_payload: str, secret: str) -> str:
    digest = hmac.new(_require(secret), encoded_payload.encode("ascii"), hashlib.sha256).digest()
    return _b64encode(digest[:_MAC_BYTES])


def sign(payload: str, secret: str) -> str:
    """A URL-safe token carrying `payload` in the clear, tamper-evident under `secret`."""
    encoded = _b64encode(payload.encode("utf-8"))
    return f"{encoded}.{_mac(encoded, secret)}"


def verify(token: str, secret: str) -> str | None:
    """The payload of a token signed with `secret`; None if forged, altered or malformed."""
    match = _TOKEN.match(token) if isinstance(token, str) else None
    if match is None:
        return None
    encoded, _ = match.groups()
    # Comparing the whole re-signed token also rejects non-canonical base64 spellings of a
    # valid token (base64 ignores the spare bits of the last character).
    if not hmac.compare_digest(token, f"{encoded}.{_mac(encoded, secret)}"):
        return None
    try:
        return _b64decode(encoded).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def webhook_signature(body: bytes, secret: str) -> str:
    """The value of a webhook signature header for `body`: `sha256=<hex>`."""
    return _WEBHOOK_PREFIX + hmac.new(_require(secret), body, hashlib.sha256).hexdigest()


def verify_webhook_signature(body: bytes, header_value: str | None, secret: str) -> bool:
    expected = webhook_signature(body, secret)
    if not header_value:
        return False
    prefix, separator, digest = header_value.strip().partition("=")
    if not separator or prefix.lower() != "sha256":
        return False
    try:
        received = (_WEBHOOK_PREFIX + digest.lower()).encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(received, expected.encode("ascii"))


def line_signature(body: bytes, channel_secret: str) -> str:
    """LINE's `x-line-signature`: base64 of the HMAC-SHA256 of the body under the channel secret."""
    return base64.b64encode(hmac.new(_require(channel_secret), body, hashlib.sha256).digest()).decode("ascii")


def verify_line_signature(body: bytes, header_value: str | None, channel_secret: str) -> bool:
    return bool(header_value) and hmac.compare_digest(header_value.strip(), line_signature(body, channel_secret))
