"""The ways a request can be refused, raised by services (and the layers under them) and mapped
once to the API's error shape: not found (404), conflict (409), invalid (422), unavailable (503),
and a system Sojourn relies on failing the request (502). A subclass may name a more precise
`code` and carry `details`."""

from __future__ import annotations

from typing import Any


class SojournError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or []


class NotFound(SojournError):
    code = "not_found"


class Conflict(SojournError):
    code = "conflict"


class Invalid(SojournError):
    code = "invalid"


class Unavailable(SojournError):
    code = "unavailable"


class UpstreamFailed(SojournError):
    """A system Sojourn relies on (Temporal, a provider) answered the request with an error."""

    code = "upstream_failed"
