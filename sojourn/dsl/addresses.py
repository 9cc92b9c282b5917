"""Sender addresses as an author (or the MAIL_FROM setting) writes them: `shop@brand.example`
or `Brand <shop@brand.example>`. The address itself is checked by email-validator: its syntax,
and a domain that can be reached from the internet (not `.local`, `.test` or `localhost`);
no DNS lookup, so checking is quick and works offline."""

from __future__ import annotations

from email.utils import getaddresses

from email_validator import EmailNotValidError, validate_email


def address_problem(text: str) -> str | None:
    """What is wrong with a sender address, or None."""
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return "a sender address is one line, without control characters"
    found = getaddresses([text])
    if len(found) != 1 or not found[0][1]:
        return f"is not an address like 'shop@brand.example' or 'Brand <shop@brand.example>' (got {text[:100]!r})"
    try:
        validate_email(found[0][1], check_deliverability=False)
    except EmailNotValidError as error:
        return f"{found[0][1][:100]!r} is not an email address: {error}"
    return None
