"""Where a journey's webhooks may go: hosts an operator listed, on ports 80 and 443, at public
addresses only, so that a journey's author cannot reach the services inside our own network
(server-side request forgery).

The address is checked as the request is made, not only when the journey is saved: the name is
resolved once, every address it resolves to is checked, and the request connects to the checked
address while still naming the host (Host header, TLS server name and certificate check). A name
that resolves to a public address for the check and to a private one for the connection (DNS
rebinding) has no second resolution to exploit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import httpx

from sojourn.settings import Settings

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Checked in this order, so the reason names the most telling kind.
_KINDS = (("unspecified", "is_unspecified"), ("loopback", "is_loopback"), ("link-local", "is_link_local"),
          ("multicast", "is_multicast"), ("reserved", "is_reserved"), ("private", "is_private"))


class DestinationRefused(Exception):
    """A webhook URL that points where webhooks may not go; the message says why."""


@dataclass(frozen=True, kw_only=True)
class WebhookPolicy:
    hosts: list[str] = field(default_factory=list)
    allow_private_networks: bool = False
    ports: list[int] | Literal["*"] = field(default_factory=lambda: [80, 443])

    @classmethod
    def of(cls, settings: Settings) -> WebhookPolicy:
        return cls(hosts=settings.webhook_allowed_hosts,
                   allow_private_networks=settings.webhook_allow_private_networks,
                   ports=settings.webhook_allowed_ports)


def host_allowed(url: str, allowed: list[str]) -> bool:
    """Exact hosts, or `*.example.com` for its subdomains; nothing is allowed by default."""
    host = (httpx.URL(url).host or "").lower()
    for entry in (entry.lower() for entry in allowed):
        if host == entry or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def address_problem(address: IpAddress) -> str | None:
    """Why a webhook may not connect to `address` (loopback, private...), or None for a public one."""
    # ::ffff:10.0.0.1 reaches 10.0.0.1: judge the IPv4 address it carries.
    ip = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped else address
    for kind, test in _KINDS:
        if getattr(ip, test):
            return f"{address} is a {kind} address"
    if not ip.is_global:
        return f"{address} is not a public address"
    return None


def url_problem(url: str, policy: WebhookPolicy) -> str | None:
    """What is wrong with a webhook URL whatever its host resolves to: a host not listed, a port
    not allowed, a literal address that is not public. None if nothing is (yet)."""
    parsed = httpx.URL(url)
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.host:
        return "is not an http(s) URL with a host"
    if not host_allowed(url, policy.hosts):
        return f"host {parsed.host!r} is not in WEBHOOK_ALLOWED_HOSTS"
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    if policy.ports != "*" and port not in policy.ports:
        allowed = ", ".join(str(p) for p in policy.ports) or "none"
        return f"port {port} is not allowed (WEBHOOK_ALLOWED_PORTS: {allowed})"
    literal = _literal_address(parsed.host)
    if literal is not None and not policy.allow_private_networks:
        problem = address_problem(literal)
        if problem is not None:
            return f"{problem} (set WEBHOOK_ALLOW_PRIVATE_NETWORKS to allow)"
    return None


@dataclass(frozen=True)
class Pinned:
    """A request's destination fixed to one checked address."""

    url: httpx.URL  # the URL with the checked address in place of the name
    headers: dict[str, str]  # Host: the name, as the request would have sent it
    extensions: dict[str, str]  # the TLS server name (and so the certificate checked) stays the name


async def pin(url: str, policy: WebhookPolicy) -> Pinned:
    """Resolve the URL's host once and check every address it has; raises DestinationRefused,
    or OSError (socket.gaierror) when the name does not resolve now."""
    problem = url_problem(url, policy)
    if problem is not None:
        raise DestinationRefused(problem)
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")
    literal = _literal_address(parsed.host)
    addresses = [literal] if literal is not None else await _resolve(host, parsed.port or _DEFAULT_PORTS[parsed.scheme])
    if not policy.allow_private_networks:
        # Every address, not only the one used: a name mixing public and private ones is refused.
        for address in addresses:
            problem = address_problem(address)
            if problem is not None:
                raise DestinationRefused(f"host {parsed.host!r} resolves to {problem} "
                                         "(set WEBHOOK_ALLOW_PRIVATE_NETWORKS to allow)")
    if literal is not None:
        return Pinned(parsed, {}, {})
    return Pinned(parsed.copy_with(host=str(addresses[0])), {"Host": parsed.netloc.decode("ascii")},
                  {"sni_hostname": host} if parsed.scheme == "https" else {})


def _literal_address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _resolve(host: str, port: int) -> list[IpAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return _unique(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos)


def _unique(addresses: Iterable[IpAddress]) -> list[IpAddress]:
    return list(dict.fromkeys(addresses))
