"""`sojourn --version`, Ctrl-C on `enroll-segment`, and `mailbox` with its database down, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version

import pytest

from sojourn.dev.postgres import free_port

SOJOURN = [sys.executable, "-m", "sojourn.cli"]


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "POSTGRES_PORT")}
    return {**env, **values}


def test_version():
    result = subprocess.run([*SOJOURN, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"sojourn {version('sojourn')}\n"


class _EndlessEnrollment(BaseHTTPRequestHandler):
    """An API whose segment enrollment never ends; it remembers what it was asked."""

    posted: list[dict] = []
    polled: list[str] = []

    def _answer(self, status: int, enrollment_id: str) -> None:
        body = json.dumps({"enrollment_id": enrollment_id, "status": "running", "total": 1000, "enrolled": 10,
                           "existing": 0, "failed": 0, "per_second": 5.0, "errors": []}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.posted.append(body)
        self._answer(202, body["enrollment_id"])

    def do_GET(self) -> None:
        self.polled.append(self.path)
        self._answer(200, self.path.rsplit("/", 1)[1])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def endless_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EndlessEnrollment)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("given_id", [None, "spring-1"])
def test_ctrl_c_on_enroll_segment_says_the_enrollment_goes_on_and_how_to_follow_or_cancel_it(
        endless_api: str, given_id: str | None):
    _EndlessEnrollment.posted.clear()
    _EndlessEnrollment.polled.clear()
    command = [*SOJOURN, "enroll-segment", "flash", "kaohsiung", "--api", endless_api, "--key", "k"]
    process = subprocess.Popen(command + (["--id", given_id] if given_id else []),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not _EndlessEnrollment.polled:
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130
    [posted] = _EndlessEnrollment.posted
    enrollment_id = posted["enrollment_id"]
    if given_id:
        assert enrollment_id == given_id
    url = f"{endless_api}/v1/journeys/flash/segment-enrollments/{enrollment_id}"
    assert "Traceback" not in err
    assert err.splitlines()[-3:] == [
        f"enrollment {enrollment_id} of journey flash goes on in the background.",
        f"  follow it:  GET {url}  (or run this command again with --id {enrollment_id})",
        f"  cancel it:  DELETE {url}",
    ]


def test_mailbox_says_in_one_line_that_the_database_is_down():
    port = free_port()  # nothing listens there
    result = subprocess.run([*SOJOURN, "mailbox"], capture_output=True, text=True, timeout=60,
                            env=_env(DATABASE_URL=f"postgresql+asyncpg://postgres:secret@127.0.0.1:{port}/sojourn"))
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"cannot read the mailbox at postgresql+asyncpg://postgres:***@127.0.0.1:{port}/sojourn: ")
    assert line.endswith("(is `sojourn dev` running?)")


def test_mailbox_reads_the_database_sojourn_dev_runs_with_the_same_settings():
    port = free_port()
    result = subprocess.run([*SOJOURN, "mailbox", "--clear"], capture_output=True, text=True, timeout=60,
                            env=_env(POSTGRES_PORT=str(port)))
    assert result.returncode == 1
    assert f"postgres@127.0.0.1:{port}/sojourn" in result.stderr


def test_mailbox_lists_what_the_sink_received(database_url: str, unique: str):
    result = subprocess.run([*SOJOURN, "mailbox", "--to", f"{unique}@example.com"], capture_output=True,
                            text=True, timeout=60, env=_env(DATABASE_URL=database_url))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "mailbox is empty\n"


# What the API answers GET /v1/usage with: two rows.
USAGE = {
    "from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "group_by": ["journey", "channel"],
    "currency": "EUR", "rows": [
        {"journey": "mothers-day", "channel": "sms", "messages": 1200, "units": 2400, "cost": 18.96},
        {"journey": "mothers-day", "channel": "email", "messages": 3000, "units": 3000, "cost": 0.3}],
    "total": {"messages": 4200, "units": 5400, "cost": 19.26}}


def test_usage_prints_a_table_of_what_the_api_answers(stub_api):
    api = stub_api(USAGE)
    result = subprocess.run([*SOJOURN, "usage", "--from", "2026-11-01", "--to", "2026-11-30", "--by",
                             "journey,channel", "--api", api.url, "--key", "k"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert api.asked == ["/v1/usage?group_by=journey%2Cchannel&from=2026-11-01&to=2026-11-30"]
    assert result.stdout.splitlines() == [
        "usage from 2026-11-01T00:00:00Z to 2026-12-01T00:00:00Z",
        "journey      channel  messages  units  cost (EUR)",
        "mothers-day  sms         1,200  2,400     18.9600",
        "mothers-day  email       3,000  3,000      0.3000",
        "total                    4,200  5,400     19.2600",
    ]
