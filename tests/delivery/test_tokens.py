import re

import pytest

from sojourn.delivery.tokens import sign, verify, webhook_signature, webhook_signature_problem

SECRET = "s3cret"


def test_round_trip():
    token = sign("c:0f8b7c1e-1111-4222-8333-944445555666:3", SECRET)
    assert verify(token, SECRET) == "c:0f8b7c1e-1111-4222-8333-944445555666:3"


def test_token_is_url_safe():
    token = sign("o:ÿ?/+&= \u4e2d", SECRET)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)
    assert verify(token, SECRET) == "o:ÿ?/+&= \u4e2d"


def test_wrong_secret_is_rejected():
    assert verify(sign("o:x", SECRET), "other") is None


def test_altered_payload_is_rejected():
    token = sign("c:abc:1", SECRET)
    forged_payload = sign("c:abc:2", "attacker").split(".")[0]
    assert verify(forged_payload + "." + token.split(".")[1], SECRET) is None


def test_every_single_character_change_is_rejected():
    token = sign("o:payload", SECRET)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for position, char in enumerate(token):
        if char == ".":
            continue
        for replacement in alphabet:
            if replacement != char:
                altered = token[:position] + replacement + token[position + 1:]
                assert verify(altered, SECRET) is None, altered


@pytest.mark.parametrize(
    "token", ["", ".", "abc", "abc.", ".abc", "a.b.c", "ab!.cd", "YQ==.abc", None, 42]
)
def test_malformed_tokens_are_rejected(token):
    assert verify(token, SECRET) is None


def test_empty_secret_is_refused():
    with pytest.raises(ValueError):
        sign("o:x", "")


NOW = 1_780_000_000


def test_webhook_signature_format():
    signature = webhook_signature(b'{"a":1}', SECRET, NOW)
    assert re.fullmatch(rf"t={NOW},v1=[0-9a-f]{{64}}", signature)


def test_webhook_signature_verifies():
    body = b'{"event":"opened"}'
    signature = webhook_signature(body, SECRET, NOW)
    assert webhook_signature_problem(body, signature, [SECRET], 300, now=NOW) is None
    uppercase_hex = " " + signature.replace(signature[-64:], signature[-64:].upper())
    assert webhook_signature_problem(body, uppercase_hex, [SECRET], 300, now=NOW) is None
    # A sender rotating its secret may send one v1 per secret: any one matching is enough.
    both = f"{signature},v1={webhook_signature(body, 'other', NOW).split('v1=')[1]}"
    assert webhook_signature_problem(body, both, ["other"], 300, now=NOW) is None


@pytest.mark.parametrize(("header", "why"), [
    (None, "missing"), ("", "missing"), ("sha256=" + "0" * 64, "sha256= form"), ("sha1=abc", "malformed"),
    ("deadbeef", "malformed"), (f"t={NOW},v1=zz\u00e9", "malformed"), (f"t={NOW},t={NOW},v1={'0' * 64}", "malformed"),
    (f"t=\u0661,v1={'0' * 64}", "malformed"),
])
def test_webhook_bad_headers(header, why):
    assert why in webhook_signature_problem(b"body", header, [SECRET], 300, now=NOW)


def test_webhook_tolerance_both_ways():
    signature = webhook_signature(b"body", SECRET, NOW)
    assert webhook_signature_problem(b"body", signature, [SECRET], 300, now=NOW + 300) is None
    assert "too old" in webhook_signature_problem(b"body", signature, [SECRET], 300, now=NOW + 301)
    assert "too new" in webhook_signature_problem(b"body", signature, [SECRET], 300, now=NOW - 301)


def test_webhook_altered_body_time_or_wrong_secret():
    signature = webhook_signature(b"body", SECRET, NOW)
    assert "does not match" in webhook_signature_problem(b"body!", signature, [SECRET], 300, now=NOW)
    assert "does not match" in webhook_signature_problem(b"body", signature, ["other"], 300, now=NOW)
    moved = signature.replace(f"t={NOW}", f"t={NOW + 1}")
    assert "does not match" in webhook_signature_problem(b"body", moved, [SECRET], 300, now=NOW)
