"""Outgoing webhooks reach public addresses on ports 80 and 443 only (unless the settings allow
more), checked on the address actually connected to, so neither a journey's author nor a DNS
answer can point them at a service inside our own network."""

from __future__ import annotations

import ipaddress

import pytest

from sojourn.delivery import allow_list
from sojourn.delivery.allow_list import DestinationRefused, WebhookPolicy, address_problem, pin, url_problem
from worker.main import journey_worker

from helpers import create_active_journey, enroll, finished, put_contact


def journey_of(*sends: dict) -> dict:
    nodes = [dict(send, next=sends[i + 1]["id"] if i + 1 < len(sends) else "end") for i, send in enumerate(sends)]
    return {"name": "webhooks", "nodes": [*nodes, {"id": "end", "type": "exit"}]}

PUBLIC_V4, PUBLIC_V6 = "93.184.215.14", "2606:4700:4700::1111"  # never connected to: resolution is faked


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("fc00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("100.64.0.1", "not a public"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("::ffff:169.254.169.254", "link-local"),
])
def test_addresses_inside_our_networks_are_refused(address, kind):
    assert kind in address_problem(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [PUBLIC_V4, PUBLIC_V6, f"::ffff:{PUBLIC_V4}"])
def test_public_addresses_are_not(address):
    assert address_problem(ipaddress.ip_address(address)) is None


STRICT = WebhookPolicy(hosts=["*.example.com", "10.0.0.5", "::ffff:7f00:1", "127.0.0.1"])


@pytest.mark.parametrize(("url", "problem"), [
    ("https://hooks.example.com/x", None),
    ("http://hooks.example.com:80/x", None),
    ("https://hooks.example.com:8443/x", "port 8443 is not allowed (WEBHOOK_ALLOWED_PORTS: 80, 443)"),
    ("http://10.0.0.5/x", "10.0.0.5 is a private address (set WEBHOOK_ALLOW_PRIVATE_NETWORKS to allow)"),
    ("http://[::ffff:7f00:1]/x", "::ffff:7f00:1 is a loopback address"),
    ("http://127.0.0.1:22/x", "port 22 is not allowed"),
    ("ftp://hooks.example.com/x", "is not an http(s) URL with a host"),
])
def test_what_a_url_says_is_checked_before_any_lookup(url, problem):
    found = url_problem(url, STRICT)
    assert found == problem if problem is None else problem in found


def test_the_settings_can_allow_private_networks_and_other_ports():
    relaxed = WebhookPolicy(hosts=STRICT.hosts, allow_private_networks=True, ports=[443, 8443])
    assert url_problem("http://10.0.0.5:8443/x", relaxed) is None
    assert url_problem("http://10.0.0.5:8080/x", relaxed) == "port 8080 is not allowed (WEBHOOK_ALLOWED_PORTS: 443, 8443)"
    assert url_problem("http://10.0.0.5:8080/x", WebhookPolicy(hosts=["10.0.0.5"], ports="*")) is not None
    assert url_problem("http://10.0.0.5:8080/x", WebhookPolicy(hosts=["10.0.0.5"], ports="*",
                                                              allow_private_networks=True)) is None


async def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch):
    """A name that answers a public address to the check and a private one after (DNS rebinding)
    is resolved once: the request goes to the checked address, still naming the host."""
    answers = [[ipaddress.ip_address(PUBLIC_V4)], [ipaddress.ip_address("127.0.0.1")]]
    lookups = []

    async def rebinding(host, port):
        lookups.append((host, port))
        return answers[len(lookups) - 1]

    monkeypatch.setattr(allow_list, "_resolve", rebinding)
    pinned = await pin("https://hooks.example.com/sojourn?x=1", STRICT)
    assert lookups == [("hooks.example.com", 443)]
    assert str(pinned.url) == f"https://{PUBLIC_V4}/sojourn?x=1"
    assert pinned.headers == {"Host": "hooks.example.com"}
    assert pinned.extensions == {"sni_hostname": "hooks.example.com"}  # the certificate is checked for the name


async def test_a_name_with_any_private_address_is_refused(monkeypatch):
    async def mixed(host, port):
        return [ipaddress.ip_address(PUBLIC_V4), ipaddress.ip_address("::ffff:10.0.0.1")]

    monkeypatch.setattr(allow_list, "_resolve", mixed)
    with pytest.raises(DestinationRefused, match=r"resolves to ::ffff:a00:1 is a private address"):
        await pin("http://hooks.example.com/x", STRICT)


async def test_a_send_to_a_private_address_fails_for_good(api, engine, temporal_env, settings, providers, unique):
    """`localhost` resolves to a loopback address: refused at the send, and the receiver is never called;
    with private networks allowed the same send goes to the pinned address, naming the host."""
    journey, contact = f"hook-private-{unique}", f"pat-{unique}"
    settings.webhook_allowed_hosts = ["localhost"]
    await put_contact(api, contact)
    await create_active_journey(api, journey, journey_of(
        {"id": "crm", "type": "send", "channel": "webhook",
         "webhook": {"url": f"http://localhost:{providers.hook.port}/hooks/sojourn", "body": {"a": 1}}}))
    strict = settings.model_copy(update={"webhook_allow_private_networks": False})
    async with journey_worker(temporal_env.client, engine, strict):
        [result] = await enroll(api, journey, contact)
        state = await finished(temporal_env, result["workflow_id"])
    assert providers.hook.received == []
    [message] = state.messages
    assert message.status == "failed"
    assert "host 'localhost' resolves to" in message.reason and "loopback address" in message.reason

    allowed = strict.model_copy(update={"webhook_allow_private_networks": True})
    async with journey_worker(temporal_env.client, engine, allowed):
        await put_contact(api, f"{contact}-2")
        [result] = await enroll(api, journey, f"{contact}-2")
        state = await finished(temporal_env, result["workflow_id"])
    assert state.messages[0].status == "sent", state.messages[0].reason
    [hook] = providers.hook.received
    assert hook.headers["host"] == f"localhost:{providers.hook.port}"
    assert providers.hook.problems == []


async def test_validation_names_a_literal_private_address(api, settings, unique):
    settings.webhook_allow_private_networks = False
    settings.webhook_allowed_ports = [80, 443]
    settings.webhook_allowed_hosts = ["169.254.169.254", "hooks.example.com"]
    refused = await api.post("/v1/journeys", json={"id": f"hook-meta-{unique}", "definition": journey_of(
        {"id": "meta", "type": "send", "channel": "webhook",
         "webhook": {"url": "http://169.254.169.254/latest/meta-data/", "body": {}}},
        {"id": "odd_port", "type": "send", "channel": "webhook",
         "webhook": {"url": "https://hooks.example.com:9200/_search", "body": {}}})})
    assert refused.status_code == 422
    assert [(p["node"], p["message"]) for p in refused.json()["error"]["details"]] == [
        ("meta", "node 'meta' field 'webhook.url': 169.254.169.254 is a link-local address "
                 "(set WEBHOOK_ALLOW_PRIVATE_NETWORKS to allow)"),
        ("odd_port", "node 'odd_port' field 'webhook.url': port 9200 is not allowed (WEBHOOK_ALLOWED_PORTS: 80, 443)")]
