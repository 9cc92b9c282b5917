"""A contact's phone number and email address, checked the same way on every path they enter
by (`PUT /v1/contacts`, an import, a contact a provider's callback creates).

Phone numbers are stored in E.164 (`+886912345678`), the form every SMS provider takes and the
one inbound messages arrive from, so that a number written `0912-345-678` or `+886 912 345 678`
is one contact's. A number without a country code is read in `DEFAULT_PHONE_REGION`; without
that setting it is refused rather than guessed. Email addresses are kept as given (a mailbox's
local part may be case-sensitive, and the address is what the person typed) but must be
addresses email-validator accepts, without a DNS lookup.
"""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email


def e164_phone(value: str, default_region: str | None) -> str:
    """`value` in E.164; ValueError naming what is wrong if it is not a valid phone number."""
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as err:
        if err.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE and not default_region:
            raise ValueError(f"{value!r} has no country code (write it as +<country code><number>, "
                             "or set DEFAULT_PHONE_REGION)") from None
        raise ValueError(f"{value!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{value!r} is not a valid phone number") from None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_problem(value: str) -> str | None:
    """Why `value` is not an email address a contact can have, or None."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return f"not a valid email address: {value[:100]!r}"
    return None
