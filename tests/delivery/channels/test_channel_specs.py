"""The channel specs are the one list of channels: every other list (senders, content fields,
consent rules, the opt-in default) must agree with them."""

from __future__ import annotations

import uuid

from sojourn.data.consent import address_of, refusal
from sojourn.data.models import Contact, utcnow
from sojourn.delivery.channels.registry import SENDERS, build_channels
from sojourn.dsl.channels import CHANNELS, CONTENT_CHANNELS, OPT_IN_BY_DEFAULT, SPECS, SYSTEM_CHANNELS
from sojourn.dsl.nodes import SendNode
from sojourn.settings import Settings


def test_every_channel_has_one_sender_and_the_registry_no_other():
    assert set(SENDERS) == set(CHANNELS)
    senders = build_channels(Settings(), smtp=None, http=None)
    assert list(senders) == list(CHANNELS) and CHANNELS[0] == "email"


def test_only_email_gives_a_message_id_header():
    senders = build_channels(Settings(message_id_domain="example.test"), smtp=None, http=None)
    message_id = uuid.uuid4()
    headers = {name: sender.message_id_header(message_id) for name, sender in senders.items()}
    assert headers == {name: f"<{message_id}@example.test>" if name == "email" else None for name in CHANNELS}


def test_each_address_is_a_contact_field_and_each_content_a_send_node_field():
    for name, spec in SPECS.items():
        assert spec.person == (spec.contact_field is not None) == (name not in SYSTEM_CHANNELS)
        if spec.person:
            assert spec.contact_field in Contact.model_fields and spec.address_name
    for name in CONTENT_CHANNELS:
        assert SendNode.model_fields[name].annotation == SPECS[name].content | None


def test_the_opt_in_default_comes_from_the_specs():
    assert OPT_IN_BY_DEFAULT == ("sms",)
    assert Settings.model_fields["opt_in_channels"].default_factory() == ["sms"]


def test_consent_reads_each_channel_from_its_spec():
    contact = Contact(external_id="c", phone="+15550001111", push_token=None, email="c@example.com")
    assert [address_of(contact, name) for name in CHANNELS] == ["c@example.com", "+15550001111", None, None, None]
    rules = {name: refusal(contact, name, {}, transactional=False, opt_in_channels=list(OPT_IN_BY_DEFAULT))
             for name in CHANNELS}
    assert rules == {"email": None, "sms": "contact has not opted in to sms", "push": "contact has no push token",
                     "line": "contact has no LINE user id", "webhook": None}
    suppressed = contact.model_copy(update={"suppressed_at": utcnow(), "suppression_reason": "bounced"})
    assert refusal(suppressed, "webhook", {}, transactional=False, opt_in_channels=[]) is None  # a system, not a person
    assert refusal(suppressed, "email", {}, transactional=True, opt_in_channels=[]) == "contact is suppressed (bounced)"
