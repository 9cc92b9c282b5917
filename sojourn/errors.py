"""The four ways a request can be refused, raised by services (and the layers under them) and
mapped once to the API's error shape: not found (404), conflict (409), invalid (422) and
unavailable (503). A subclass may name a more precise `code` and carry `details`."""

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
