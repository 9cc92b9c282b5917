"""Which hosts a journey's webhooks may call: only those an operator listed."""

from __future__ import annotations

import httpx


def host_allowed(url: str, allowed: list[str]) -> bool:
    """Exact hosts, or `*.example.com` for its subdomains; nothing is allowed by default."""
    host = (httpx.URL(url).host or "").lower()
    for entry in (entry.lower() for entry in allowed):
        if host == entry or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def unlisted_webhook_hosts(definition, allowed: list[str]) -> list[tuple[str, str]]:
    """(node id, host) of every webhook send in a definition whose host is not allowed."""
    return [(node.id, httpx.URL(node.webhook.url).host) for node in definition.nodes
            if getattr(node, "webhook", None) is not None and "webhook" in node.channels
            and not host_allowed(node.webhook.url, allowed)]
