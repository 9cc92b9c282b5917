"""HMAC-signed tokens for tracking URLs, and HMAC signatures for webhook bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

# 16 bytes of HMAC-SHA256 keeps tracking URLs short while forgery stays at 2^-128.
_MAC_BYTES = 16
_TOKEN = re.compile(r"^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$")


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


def verify_any(token: str, secrets: list[str]) -> str | None:
    """The payload of a token signed with any of `secrets` (the current one and those rotated
    out but still honoured); None if none of them signed it."""
    for secret in secrets:
        payload = verify(token, secret)
        if payload is not None:
            return payload
    return None


def webhook_signature(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The value of a webhook signature header for `body`: `t=<unix seconds>,v1=<hex>`, the
    HMAC-SHA256 of `<t>.<body>` (Stripe's scheme). Signing the time lets a receiver refuse a
    captured request replayed later."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={_webhook_mac(body, at, secret)}"


def _webhook_mac(body: bytes, timestamp: int, secret: str) -> str:
    return hmac.new(_require(secret), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


_HEX_MAC = re.compile(r"^[0-9a-fA-F]{64}$")


def webhook_signature_problem(body: bytes, header_value: str | None, secrets: list[str], tolerance: float,
                              now: float | None = None) -> str | None:
    """Why `header_value` does not sign `body` under any of `secrets` within `tolerance` seconds
    of now, or None when it does. Several `v1` entries may be given (a sender rotating its secret)."""
    if not header_value or not header_value.strip():
        return "is missing"
    fields: dict[str, list[str]] = {}
    for item in header_value.split(","):
        key, separator, value = item.strip().partition("=")
        if not separator:
            return "is malformed: expected t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>"
        fields.setdefault(key, []).append(value)
    if "t" not in fields and "sha256" in fields:
        return ("uses the sha256= form, which is no longer accepted (it has no timestamp): "
                "send t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>")
    stamps, macs = fields.get("t", []), [mac for mac in fields.get("v1", []) if _HEX_MAC.match(mac)]
    if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdecimal() or not macs:
        return "is malformed: expected t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>"
    timestamp = int(stamps[0])
    age = (time.time() if now is None else now) - timestamp
    if age > tolerance:
        return f"is too old: signed {age:.0f} s ago, more than WEBHOOK_TOLERANCE ({tolerance:g} s)"
    if -age > tolerance:
        return f"is too new: signed {-age:.0f} s in the future, more than WEBHOOK_TOLERANCE ({tolerance:g} s)"
    expected = [_webhook_mac(body, timestamp, secret) for secret in secrets]
    # Every comparison is made (no early exit), so timing tells nothing about which one matched.
    matched = [hmac.compare_digest(mac.lower(), wanted) for mac in macs for wanted in expected]
    return None if any(matched) else "does not match the body under the webhook secret"


def line_signature(body: bytes, channel_secret: str) -> str:
    """LINE's `x-line-signature`: base64 of the HMAC-SHA256 of the body under the channel secret."""
    return base64.b64encode(hmac.new(_require(channel_secret), body, hashlib.sha256).digest()).decode("ascii")


def verify_line_signature(body: bytes, header_value: str | None, channel_secret: str) -> bool:
    return bool(header_value) and hmac.compare_digest(header_value.strip(), line_signature(body, channel_secret))
