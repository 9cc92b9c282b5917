"""What the commands that ask a running API share: where it is, and with which key."""

from __future__ import annotations

import argparse
import os
import sys


def add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", help="the API's base URL (default http://API_HOST:API_PORT)")
    parser.add_argument("--key", help="API key (default $SOJOURN_API_KEY, else the first of API_KEYS)")


def api_target(args: argparse.Namespace) -> tuple[str, str]:
    """The API's base URL and the key to call it with."""
    from sojourn.settings import get_settings

    settings = get_settings()
    base = (args.api or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")
    return base, args.key or os.environ.get("SOJOURN_API_KEY") or settings.api_keys[0].secret


def ask(args: argparse.Namespace, method: str, path: str, what: str, timeout: float = 60.0, **request) -> dict | None:
    """The API's JSON answer to `method path`, or None once stderr says why it refused `what`."""
    import httpx

    base, key = api_target(args)
    response = httpx.request(method, f"{base}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=timeout,
                             **request)
    if not response.is_success:
        print(f"{what} refused ({response.status_code}): {response.text[:1000]}", file=sys.stderr)
        return None
    return response.json()
