"""Local HTTP servers standing in for Twilio, FCM, LINE and a brand's webhook receiver.

Each is a real server on 127.0.0.1 (uvicorn) that checks every request the way the
provider documents it (path, auth, headers, body). A request that breaks a rule is
answered 400 and listed in `problems`, so a wrong request fails the test instead of
passing unnoticed. Replies can be scripted: an error, a delay after accepting (the
provider took the message but the answer comes too late), then success.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sojourn.delivery.tokens import webhook_signature_problem

WEBHOOK_SECRET = "test-outgoing-webhook-secret"
LINE_SECRET = "test-line-channel-secret"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
LINE_USER = re.compile(r"^U[0-9a-f]{32}$")


@dataclass
class Reply:
    status: int | None = 200  # None: the provider's usual success (it takes the message)
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds between taking the request and answering


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the server answered
    at: float = 0.0  # time.monotonic() on arrival

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> dict:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode(), strict_parsing=True).items()}


class FakeProvider:
    """Subclasses define `path`, `problems_of(request, body)` and `success(received)`."""

    path = "/"

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.problems: list[str] = []
        self.script: list[Reply] = []  # replies to the next requests, in order, before success
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.accepted]

    @property
    def delivered(self) -> int:
        """Messages the provider would deliver: one per accepted request, unless it dedupes."""
        return len(self.accepted)

    async def start(self) -> FakeProvider:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "PUT"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            await self._task

    async def _handle(self, request: Request) -> Response:
        arrived = time.monotonic()
        body = await request.body()
        problems = [] if request.method == "POST" else [f"method {request.method}, expected POST"]
        if request.url.path != self.path:
            problems.append(f"path {request.url.path}, expected {self.path}")
        else:
            problems += self.problems_of(request, body)
        if problems:
            self.problems += problems
            reply = Reply(400, {"error": "; ".join(problems)})
        else:
            reply = self.script.pop(0) if self.script else Reply(None)
            if reply.status is None:
                reply = dataclasses.replace(self.success(request), delay=reply.delay)
        self.received.append(Received(request.url.path, dict(request.headers), body, reply.status, arrived))
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return JSONResponse(reply.body or {}, status_code=reply.status, headers=reply.headers)

    def problems_of(self, request: Request, body: bytes) -> list[str]:
        raise NotImplementedError

    def success(self, request: Request) -> Reply:
        raise NotImplementedError


def _bearer(request: Request, token: str) -> list[str]:
    return [] if request.headers.get("authorization") == f"Bearer {token}" else ["wrong or missing bearer token"]


def _json(request: Request, body: bytes) -> tuple[dict | None, list[str]]:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return None, [f"content-type {request.headers.get('content-type')!r}, expected application/json"]
    try:
        return json.loads(body), []
    except ValueError:
        return None, ["body is not JSON"]


class FakeTwilio(FakeProvider):
    """POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded, HTTP basic auth."""

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "twilio-token",
                 sender: str = "+15005550006") -> None:
        super().__init__()
        self.account_sid, self.auth_token, self.sender = account_sid, auth_token, sender
        self.path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.sids: list[str] = []  # of the accepted requests, in order

    def problems_of(self, request: Request, body: bytes) -> list[str]:
        problems = []
        basic = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            problems.append("wrong or missing basic auth")
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            problems.append(f"content-type {request.headers.get('content-type')!r}, expected form encoding")
            return problems
        form = Received("", {}, body, 0).form()
        if set(form) - {"StatusCallback"} != {"To", "From", "Body"}:
            problems.append(f"form fields {sorted(form)}, expected Body, From, To (and StatusCallback)")
        if "StatusCallback" in form and not re.match(r"^https?://[^/]+/", form["StatusCallback"]):
            problems.append(f"StatusCallback {form['StatusCallback']!r} is not an absolute URL")
        if not E164.match(form.get("To", "")):
            problems.append(f"To {form.get('To')!r} is not E.164")
        if form.get("From") != self.sender:
            problems.append(f"From {form.get('From')!r}, expected {self.sender}")
        if not form.get("Body"):
            problems.append("empty Body")
        return problems

    def success(self, request: Request) -> Reply:
        sid = f"SM{uuid.uuid4().hex}"  # unique everywhere, as Twilio's are
        self.sids.append(sid)
        return Reply(201, {"sid": sid, "status": "queued"})

    def sid_of(self, received: Received) -> str:
        """The MessageSid Twilio gave the accepted request `received`."""
        return self.sids[self.accepted.index(received)]

    def status_callback(self, received: Received, status: str, error_code: str | None = None
                        ) -> tuple[str, dict[str, str], dict[str, str]]:
        """(url, form, headers) of the status callback Twilio posts for the text `received`."""
        sent = received.form()
        form = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "From": sent["From"], "To": sent["To"],
                "MessageSid": self.sid_of(received), "SmsSid": self.sid_of(received), "MessageStatus": status,
                "SmsStatus": status, **({"ErrorCode": error_code} if error_code else {})}
        url = sent["StatusCallback"]
        return url, form, {"X-Twilio-Signature": twilio_signature(self.auth_token, url, form)}

    def settings(self) -> dict[str, str]:
        """The settings that send SMS through this stand-in."""
        return dict(twilio_base_url=self.base_url, twilio_account_sid=self.account_sid,
                    twilio_auth_token=self.auth_token, twilio_from=self.sender)

    def inbound(self, url: str, sender: str, text: str) -> tuple[dict[str, str], dict[str, str]]:
        """(form, headers) of the Messaging webhook Twilio posts to `url` for a text `sender` sent us."""
        form = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "MessageSid": f"SM{uuid.uuid4().hex}",
                "From": sender, "To": self.sender, "Body": text, "NumMedia": "0"}
        return form, {"X-Twilio-Signature": twilio_signature(self.auth_token, url, form)}


def twilio_signature(auth_token: str, url: str, form: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio computes it: base64 HMAC-SHA1, under the auth token, of the
    full URL followed by each form parameter's name and value, sorted by name."""
    signed = url + "".join(name + form[name] for name in sorted(form))
    return base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


class FakeFcm(FakeProvider):
    """POST /v1/projects/{project}/messages:send with an OAuth bearer token (FCM HTTP v1)."""

    def __init__(self, project: str = "sojourn-test", token: str = "fcm-token") -> None:
        super().__init__()
        self.project, self.token = project, token
        self.path = f"/v1/projects/{project}/messages:send"
        self._ids = itertools.count(1)

    def problems_of(self, request: Request, body: bytes) -> list[str]:
        problems = _bearer(request, self.token)
        payload, json_problems = _json(request, body)
        if payload is None:
            return problems + json_problems
        message = payload.get("message")
        if set(payload) != {"message"} or not isinstance(message, dict):
            return [*problems, "body must be {\"message\": {...}}"]
        if not isinstance(message.get("token"), str):
            problems.append("message.token missing")
        notification = message.get("notification", {})
        if not set(notification) <= {"title", "body", "image"} or not notification.get("body"):
            problems.append(f"bad notification {notification!r}")
        data = message.get("data", {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            problems.append("data values must be strings")
        if not set(message) <= {"token", "notification", "data", "android", "apns"}:
            problems.append(f"unknown message fields {sorted(set(message) - {'token', 'notification', 'data'})}")
        return problems + _fcm_platform_problems(message)

    def success(self, request: Request) -> Reply:
        return Reply(200, {"name": f"projects/{self.project}/messages/{next(self._ids)}"})


def _fcm_platform_problems(message: dict) -> list[str]:
    """FCM v1's AndroidConfig (ttl as a "3.5s" duration, HIGH/NORMAL) and ApnsConfig (string headers)."""
    problems = []
    android = message.get("android", {})
    if not set(android) <= {"ttl", "priority", "collapse_key"}:
        problems.append(f"unexpected android fields {sorted(android)}")
    if "ttl" in android and not re.match(r"^\d+(\.\d{1,9})?s$", str(android["ttl"])):
        problems.append(f"android.ttl {android['ttl']!r} is not a duration like '3600s'")
    if android.get("priority", "HIGH") not in ("HIGH", "NORMAL"):
        problems.append(f"android.priority {android['priority']!r}")
    headers = message.get("apns", {}).get("headers", {})
    if not all(isinstance(v, str) for v in headers.values()):
        problems.append("apns headers must be strings")
    if headers.get("apns-priority", "10") not in ("5", "10"):
        problems.append(f"apns-priority {headers['apns-priority']!r}")
    if not str(headers.get("apns-expiration", "0")).isdecimal():
        problems.append(f"apns-expiration {headers['apns-expiration']!r} is not a UNIX time")
    if len(headers.get("apns-collapse-id", "").encode()) > 64:
        problems.append("apns-collapse-id longer than 64 bytes")
    return problems


class FakeLine(FakeProvider):
    """POST /v2/bot/message/push with the channel access token; honours X-Line-Retry-Key."""

    path = "/v2/bot/message/push"

    def __init__(self, token: str = "line-token") -> None:
        super().__init__()
        self.token = token
        self.accepted_keys: dict[str, str] = {}  # retry key -> request id
        self._ids = itertools.count(1)

    def problems_of(self, request: Request, body: bytes) -> list[str]:
        problems = _bearer(request, self.token)
        try:
            uuid.UUID(request.headers.get("x-line-retry-key", ""))
        except ValueError:
            problems.append("X-Line-Retry-Key must be a UUID")
        payload, json_problems = _json(request, body)
        if payload is None:
            return problems + json_problems
        if not LINE_USER.match(str(payload.get("to"))):
            problems.append(f"to {payload.get('to')!r} is not a LINE user id")
        messages = payload.get("messages")
        if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
            problems.append("messages must be a list of 1 to 5")
        elif not all(isinstance(m, dict) and m.get("type") for m in messages):
            problems.append("every message needs a type")
        return problems

    def success(self, request: Request) -> Reply:
        key = request.headers["x-line-retry-key"]
        if key in self.accepted_keys:
            return Reply(409, {"message": "The retry key is already accepted"},
                         {"x-line-accepted-request-id": self.accepted_keys[key]})
        request_id = f"req-{next(self._ids)}"
        self.accepted_keys[key] = request_id
        return Reply(200, {"sentMessages": [{"id": f"{600000 + len(self.accepted_keys)}", "quoteToken": "q"}]},
                     {"x-line-request-id": request_id})

    @property
    def delivered(self) -> int:
        return len(self.accepted_keys)


class FakeWebhookReceiver(FakeProvider):
    """A brand's endpoint: checks our signature, and acts once per Idempotency-Key."""

    path = "/hooks/sojourn"

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def problems_of(self, request: Request, body: bytes) -> list[str]:
        problems = []
        signature = webhook_signature_problem(body, request.headers.get("x-sojourn-signature"), [self.secret], 300)
        if signature is not None:
            problems.append(f"X-Sojourn-Signature {signature}")
        try:
            uuid.UUID(request.headers.get("idempotency-key", ""))
        except ValueError:
            problems.append("Idempotency-Key must be a UUID")
        _, json_problems = _json(request, body)
        return problems + json_problems

    @property
    def delivered(self) -> int:
        return len({r.headers["idempotency-key"] for r in self.accepted})

    def success(self, request: Request) -> Reply:
        seen = any(r.headers.get("idempotency-key") == request.headers["idempotency-key"] for r in self.accepted)
        return Reply(200, {"ok": True, "duplicate": seen}, {"x-request-id": f"hook-{len(self.received) + 1}"})


class FakeGoogleOAuth(FakeProvider):
    """Google's token endpoint for service accounts: checks the RS256-signed JWT assertion."""

    path = "/token"

    def __init__(self, public_key, client_email: str, access_token: str = "ya29.from-service-account") -> None:
        super().__init__()
        self.public_key, self.client_email, self.access_token = public_key, client_email, access_token

    def problems_of(self, request: Request, body: bytes) -> list[str]:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        form = Received("", {}, body, 0).form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return [f"grant_type {form.get('grant_type')!r}"]
        header, claims, signature = form.get("assertion", "..").split(".")
        try:
            self.public_key.verify(_unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return ["assertion signature does not verify"]
        decoded = json.loads(_unb64(claims))
        problems = []
        if json.loads(_unb64(header)) != {"alg": "RS256", "typ": "JWT"}:
            problems.append("JWT header must be RS256")
        if decoded.get("iss") != self.client_email:
            problems.append(f"iss {decoded.get('iss')!r}")
        if decoded.get("scope") != "https://www.googleapis.com/auth/firebase.messaging":
            problems.append(f"scope {decoded.get('scope')!r}")
        if decoded.get("aud") != f"{self.base_url}{self.path}":
            problems.append(f"aud {decoded.get('aud')!r}")
        if not 0 < decoded.get("exp", 0) - decoded.get("iat", 0) <= 3600:
            problems.append("exp must be within an hour of iat")
        return problems

    def success(self, request: Request) -> Reply:
        return Reply(200, {"access_token": self.access_token, "expires_in": 3599, "token_type": "Bearer"})


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SendGridSigner:
    """SendGrid's Event Webhook signing: an ECDSA P-256 key whose public half (base64 DER, as
    SendGrid shows it) is the verification key; each post is signed over timestamp + body."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self._key = ec.generate_private_key(ec.SECP256R1())
        der = self._key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self._key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {"Content-Type": "application/json",
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp}
