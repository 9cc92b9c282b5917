"""A send node's `from` and the MAIL_FROM setting are addresses: `shop@brand.example` or
`Brand <shop@brand.example>`, nothing a mail header would carry as `From: not`."""

import pytest
from pydantic import ValidationError

from sojourn.dsl.validation import DefinitionError, validate_definition
from sojourn.settings import Settings

DONE = {"id": "done", "type": "exit"}

GOOD = ["shop@brand.example", "Brand <shop@brand.example>", "Café Rosé <shop@example.com>",
        '"Brand, Inc" <shop@brand.example>']
BAD = ["not", "Brand", "Brand <>", "x <not>", "@brand.example", "shop@", "a@brand.example, b@brand.example",
       "Brand, Inc <shop@brand.example>", "shop@brand.example\r\nBcc: everyone@brand.example",
       "shop@sojourn.local", "shop@localhost"]


def journey(sender):
    return {"name": "x", "nodes": [
        {"id": "a", "type": "send", "subject": "Hi", "text": "Hi", "from": sender, "next": "done"}, DONE]}


@pytest.mark.parametrize("sender", GOOD)
def test_a_sender_address_is_taken(sender):
    assert validate_definition(journey(sender)).nodes[0].from_ == sender


@pytest.mark.parametrize("sender", BAD)
def test_a_sender_that_is_not_an_address_is_a_problem(sender):
    with pytest.raises(DefinitionError) as caught:
        validate_definition(journey(sender))
    assert [(p.node, p.field) for p in caught.value.problems] == [("a", "from")]


def test_mail_from_is_checked_at_startup():
    assert Settings(mail_from="Brand <shop@brand.example>").mail_from == "Brand <shop@brand.example>"
    assert "@" in Settings().mail_from
    with pytest.raises(ValidationError, match="MAIL_FROM 'not' is not an email address"):
        Settings(mail_from="not")
