"""Accept YAML request bodies (`Content-Type: application/yaml`) wherever JSON is accepted.

Journey definitions are written in YAML by people; converting at the edge keeps
one validation path (the JSON models) for both.
"""

from __future__ import annotations

import json

import yaml
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from sojourn.data.ingest.text import TOO_DEEP
from sojourn.dsl.validation import StrictYamlLoader

YAML_TYPES = {b"application/yaml", b"application/x-yaml", b"text/yaml", b"text/x-yaml"}


class YamlBodies:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type not in YAML_TYPES:
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            converted = json.dumps(yaml.load(body, Loader=StrictYamlLoader), default=str).encode()
        except yaml.YAMLError as err:
            await _refuse(send, f"request body is not valid YAML: {err}")
            return
        except RecursionError:  # the parser and the encoder recurse once per level
            await _refuse(send, f"request body is not valid YAML: {TOO_DEEP}")
            return
        new_headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        new_headers += [(b"content-type", b"application/json"), (b"content-length", str(len(converted)).encode())]
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": converted, "more_body": False}

        await self.app({**scope, "headers": new_headers}, replay, send)


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps(error_body("invalid_yaml", message)).encode()
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
