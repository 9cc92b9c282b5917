import re

import pytest

from sojourn.delivery.tokens import sign, verify, verify_webhook_signature, webhook_signature

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


def test_webhook_signature_format():
    signature = webhook_signature(b'{"a":1}', SECRET)
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", signature)


def test_webhook_signature_verifies():
    body = b'{"event":"opened"}'
    signature = webhook_signature(body, SECRET)
    assert verify_webhook_signature(body, signature, SECRET)
    uppercase_hex = " sha256=" + signature.removeprefix("sha256=").upper()
    assert verify_webhook_signature(body, uppercase_hex, SECRET)


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha1=abc", "deadbeef", "sha256=zz\u00e9"])
def test_webhook_bad_headers(header):
    assert not verify_webhook_signature(b"body", header, SECRET)


def test_webhook_altered_body_or_wrong_secret():
    signature = webhook_signature(b"body", SECRET)
    assert not verify_webhook_signature(b"body!", signature, SECRET)
    assert not verify_webhook_signature(b"body", signature, "other")
