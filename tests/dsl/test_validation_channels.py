"""Send nodes on every channel: what a definition must say, and the precise error when it does not."""

import pytest

from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.validation import DefinitionError, validate_definition

DONE = {"id": "done", "type": "exit"}


def journey(*nodes):
    return {"name": "channels", "nodes": [*nodes, DONE]}


def send(**fields):
    return {"id": "s", "type": "send", "next": "done", **fields}


def problems(raw) -> list[tuple[str | None, str, str]]:
    with pytest.raises(DefinitionError) as caught:
        validate_definition(raw)
    return [(p.node, p.field, p.message) for p in caught.value.problems]


def test_every_channel_with_its_content_is_valid():
    definition = validate_definition(journey(
        send(id="a", channel=["line", "sms", "email"], next="b", line={"text": "Hi {{ first_name }}"},
             sms={"text": "Hi"}, subject="Hi", text="Hi"),
        send(id="b", channel="push", next="c", push={"title": "T", "body": "B", "data": {"k": "{{ external_id }}"}}),
        send(id="c", channel="line", next="d", line={"messages": [{"type": "flex", "altText": "x", "contents": {}}]}),
        send(id="d", channel="webhook", webhook={"url": "https://crm.example/hook", "body": {"id": "{{ external_id }}"}},
             transactional=True, on_failure="done"),
    ))
    nodes = definition.node_map()
    assert nodes["a"].channels == ["line", "sms", "email"] and nodes["d"].channels == ["webhook"]
    assert nodes["d"].on_failure == "done"


@pytest.mark.parametrize(("node", "message"), [
    (send(channel="sms", subject="x", text="x"), "channel 'sms' needs its content in `sms`"),
    (send(channel="email", text="x"), "an email needs a `subject`"),
    (send(channel=["sms", "sms"], sms={"text": "x"}), "a channel is listed twice"),
    (send(channel=["webhook", "email"], webhook={"url": "https://a.example"}, subject="x", text="x"),
     "`webhook` calls a system, not a person: it cannot be a fallback of other channels"),
    (send(channel="line", line={"text": "x", "messages": [{"type": "text", "text": "x"}]}),
     "a line message needs exactly one of `text` or `messages`"),
    (send(channel="fax", subject="x", text="x"), "unknown channel 'fax'; channels are email, sms, push, line, webhook"),
    (send(channel="webhook", webhook={"url": "ftp://files.example/x"}), "webhook url must start with https:// or http:// (got 'ftp://files.example/x')"),
])
def test_a_send_node_missing_what_its_channel_needs_is_refused(node, message):
    found = problems(journey(node))
    assert any(node_id == "s" and message in text for node_id, _, text in found), found


def test_template_errors_in_any_channel_name_the_field():
    found = problems(journey(send(channel=["push", "sms"], push={"body": "ok", "data": {"k": "{{ broken"}},
                                  sms={"text": "{% if %}"})))
    fields = {field for _, field, _ in found}
    assert fields == {"push.data.k", "sms.text"}, found


def test_on_failure_must_name_a_node():
    found = problems(journey(send(subject="x", text="x", on_failure="nowhere")))
    assert [(n, f) for n, f, m in found if "unknown node 'nowhere'" in m] == [("s", "on_failure")], found


def test_definitions_written_before_channels_still_parse():
    old = journey(send(subject="Hi", html="<p>Hi</p>", text="Hi", track=False))
    assert JourneyDefinition.model_validate(old).node_map()["s"].channels == ["email"]


def test_a_template_that_fails_for_every_contact_fails_validation():
    found = problems(journey(send(channel=["sms", "email"], sms={"text": "{{ 'soon' | money }}"},
                                  subject="{{ ''.__class__.__mro__ }}", text="{{ contact.balance | money }}")))
    by_field = {field: message for _, field, message in found}
    assert set(by_field) == {"sms.text", "subject"}, found  # text needs a balance some contacts have
    assert "fails for every contact: ValueError: money: 'soon' is not a number" in by_field["sms.text"]
    assert "not allowed in templates: access to attribute '__class__'" in by_field["subject"]


@pytest.mark.parametrize(("raw", "field", "message"), [
    (journey({"id": "w", "type": "wait", "at": "25:00", "next": "done"}), "at", "a time of day is written HH:MM"),
    (journey({"id": "w", "type": "wait", "at": "09:00", "duration": "1d", "next": "done"}), "",
     "a wait node needs exactly one of `duration`, `until` or `at`"),
    (journey({"id": "w", "type": "wait", "duration": "1d", "weekdays": ["wed"], "next": "done"}), "",
     "`weekdays` goes with `at`"),
    (journey({"id": "w", "type": "wait", "at": "09:00", "weekdays": ["wednesday"], "next": "done"}), "weekdays.0",
     "'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'"),
    (journey(send(subject="x", text="x", when_quiet="later")), "when_quiet", "'defer' or 'skip'"),
])
def test_send_window_fields_are_checked(raw, field, message):
    found = problems(raw)
    assert any(f == field and message in m for _, f, m in found), found


@pytest.mark.parametrize(("extra", "field", "message"), [
    ({"time_zone": "Mars/Olympus"}, "time_zone", "unknown time zone 'Mars/Olympus'"),
    ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours", "different `start` and `end`"),
    ({"quiet_hours": {"start": "10pm", "end": "08:00"}}, "quiet_hours.start", "HH:MM"),
])
def test_journey_send_window_settings_are_checked(extra, field, message):
    found = problems({**journey(send(subject="x", text="x")), **extra})
    assert any(node is None and f == field and message in m for node, f, m in found), found
