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
