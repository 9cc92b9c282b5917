"""A local HTTP server standing in for the API, for commands that only read it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class StubApi:
    """Answers every GET or POST with `status` and `answer` as JSON; `asked` lists the paths asked
    for, `bodies` the JSON bodies posted."""

    answer: object = None
    status: int = 200
    asked: list[str] = field(default_factory=list)
    bodies: list[object] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def stub_api() -> Iterator[Callable[..., StubApi]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: object, status: int = 200) -> StubApi:
        stub = StubApi(answer, status)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.asked.append(self.path)
                body = json.dumps(stub.answer).encode()
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                stub.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.do_GET()

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        stub.url = f"http://127.0.0.1:{server.server_address[1]}"
        return stub

    yield start
    for server in servers:
        server.shutdown()
