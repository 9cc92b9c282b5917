"""Engagement webhooks are signed over a timestamp and the body, and refused outside the tolerance:
a captured request cannot be replayed later."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timezone

import pytest

from helpers import post_webhook

EVENT = {"message_id": "<nobody@nowhere.example>", "type": "opened",
         "timestamp": datetime(2026, 5, 1, tzinfo=timezone.utc).isoformat()}


async def test_a_fresh_signature_is_accepted(api, settings):
    for skew in (0, -250, 250):  # within WEBHOOK_TOLERANCE (300 s) either way: clocks differ
        response = await post_webhook(api, settings.webhook_secret, [EVENT], signed_at=int(time.time()) + skew)
        assert response.status_code == 200, response.text
        assert response.json()["results"] == [{"index": 0, "status": "unknown_message"}]


@pytest.mark.parametrize(("skew", "why"), [(-301, "too old"), (-86_400, "too old"), (400, "too new")])
async def test_a_replayed_or_future_signature_is_refused(api, settings, skew, why):
    response = await post_webhook(api, settings.webhook_secret, [EVENT], signed_at=int(time.time()) + skew)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_signature" and why in error["message"] and "WEBHOOK_TOLERANCE" in error["message"]


async def test_the_tolerance_is_a_setting(api, settings):
    settings.webhook_tolerance = 30
    response = await post_webhook(api, settings.webhook_secret, [EVENT], signed_at=int(time.time()) - 60)
    assert response.status_code == 401 and "too old" in response.json()["error"]["message"]


def _body() -> bytes:
    return json.dumps({"events": [EVENT]}).encode()


@pytest.mark.parametrize(("header", "why"), [
    (None, "is missing"),
    ("", "is missing"),
    ("t=abc,v1=" + "0" * 64, "is malformed"),
    ("v1=" + "0" * 64, "is malformed"),
    ("t={now}", "is malformed"),
    ("t={now},v1=zz", "is malformed"),
    ("deadbeef", "is malformed"),
    ("t={now},v1=" + "0" * 64, "does not match"),
])
async def test_a_bad_header_is_refused_naming_why(api, header, why):
    # The time is read when the test runs, not when it is collected (a long suite outlasts the tolerance).
    header = header.replace("{now}", str(int(time.time()))) if header is not None else None
    headers = {"Content-Type": "application/json"} | ({"X-Sojourn-Signature": header} if header is not None else {})
    response = await api.post("/v1/webhooks/engagement", content=_body(), headers=headers)
    assert response.status_code == 401
    assert why in response.json()["error"]["message"]


async def test_the_old_untimed_form_is_refused(api, settings):
    """`sha256=<HMAC of the body>` carries no time, so a captured request would be good forever."""
    body = _body()
    untimed = "sha256=" + hmac.new(settings.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    response = await api.post("/v1/webhooks/engagement", content=body,
                              headers={"Content-Type": "application/json", "X-Sojourn-Signature": untimed})
    assert response.status_code == 401
    assert "sha256= form" in response.json()["error"]["message"]


async def test_the_timestamp_is_part_of_what_is_signed(api, settings):
    """Moving a captured signature's `t` forward does not make it fresh."""
    old = int(time.time()) - 3600
    body = _body()
    mac = hmac.new(settings.webhook_secret.encode(), f"{old}.".encode() + body, hashlib.sha256).hexdigest()
    response = await api.post("/v1/webhooks/engagement", content=body, headers={
        "Content-Type": "application/json", "X-Sojourn-Signature": f"t={int(time.time())},v1={mac}"})
    assert response.status_code == 401 and "does not match" in response.json()["error"]["message"]
