"""OAuth 2 access tokens for FCM from a Google service-account file (the JWT bearer grant).

A token lives an hour; it is fetched once and reused until a minute before it expires,
by every send of the worker.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from sojourn.delivery.channels.http import post

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_RENEW_BEFORE_SECONDS = 60


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class ServiceAccountTokens:
    def __init__(self, path: Path, http: httpx.AsyncClient, scope: str = FCM_SCOPE) -> None:
        info = json.loads(Path(path).read_text())
        self.project_id: str | None = info.get("project_id")
        self._email = info["client_email"]
        self._key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        self._token_uri = info.get("token_uri", "https://oauth2.googleapis.com/token")
        self._scope = scope
        self._http = http
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or time.time() > self._expires_at - _RENEW_BEFORE_SECONDS:
                response = await post(self._http, self._token_uri, data={"grant_type": _GRANT,
                                                                         "assertion": self._assertion()})
                answer = response.json()
                self._token = answer["access_token"]
                self._expires_at = time.time() + float(answer.get("expires_in", 3600))
            return self._token

    def _assertion(self) -> str:
        now = int(time.time())
        header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        claims = _b64(json.dumps({"iss": self._email, "scope": self._scope, "aud": self._token_uri,
                                  "iat": now, "exp": now + 3600}).encode())
        signature = self._key.sign(f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{claims}.{_b64(signature)}"
