"""`sojourn dev` as a user runs it: every component up, Ctrl-C stops them all, a restart
resumes an in-flight journey where it was, and a component that dies comes back alone."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from temporalio.client import Client

from sojourn.dev.postgres import free_port

KEY = {"Authorization": "Bearer stack-test-key"}


def _journey() -> dict:
    return {"name": "Resume", "nodes": [
        {"id": "hello", "type": "send", "subject": "Hello from the stack",
         "html": '<a href="https://shop.example/x">x</a>', "next": "opened"},
        {"id": "opened", "type": "wait_for", "event": {"opened": "hello"}, "timeout": "7d",
         "on_event": "thanks", "on_timeout": "end"},
        {"id": "thanks", "type": "send", "subject": "Thanks for reading", "text": "ok", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


@pytest.fixture
def stack_dir(open_dir: Path) -> Path:
    return open_dir / f"data-{uuid.uuid4().hex[:8]}"


class _Stack:
    def __init__(self, data_dir: Path) -> None:
        self.ports = {name: free_port() for name in ("postgres", "temporal", "ui", "smtp", "api")}
        self.data_dir = data_dir
        self.api = f"http://127.0.0.1:{self.ports['api']}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "API_KEYS": "stack-test-key", "PUBLIC_BASE_URL": self.api}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sojourn.cli", "dev", "--data-dir", str(self.data_dir),
             "--postgres-port", str(self.ports["postgres"]), "--temporal-port", str(self.ports["temporal"]),
             "--temporal-ui-port", str(self.ports["ui"]), "--smtp-port", str(self.ports["smtp"]),
             "--api-port", str(self.ports["api"])],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            # Up once the stack says so: it supervises (restarts what dies) only from then on.
            if any(line.startswith("Sojourn dev stack is up") for line in self.lines):
                health = httpx.get(f"{self.api}/healthz", timeout=2)
                assert health.status_code == 200 and set(health.json()["components"].values()) == {"ok"}
                return
            time.sleep(0.5)
        raise AssertionError("the stack did not come up in 90 s:\n" + self.output())

    def output(self) -> str:
        """What `sojourn dev` printed so far (all of it, once it has exited)."""
        if self.process.poll() is not None:
            self.reader.join(5)  # until it has read the last lines
        return "".join(self.lines)

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)


def _mail(stack: _Stack, to: str, count: int) -> list[dict]:
    for _ in range(100):
        mail = httpx.get(f"{stack.api}/v1/dev/mailbox", params={"to": to}, headers=KEY).json()
        if len(mail) >= count:
            return list(reversed(mail))
        time.sleep(0.2)
    raise AssertionError(f"{to} did not get {count} message(s)")


def test_dev_stack_stops_cleanly_and_resumes_journeys(stack_dir: Path):
    stack = _Stack(stack_dir)
    stack.start()
    try:
        children = stack.children()
        assert len(children) >= 4
        api = httpx.Client(base_url=stack.api, headers=KEY)
        assert api.post("/v1/journeys", json={"id": "resume", "definition": _journey()}).status_code == 201
        api.post("/v1/journeys/resume/activate")
        api.put("/v1/contacts/ada", json={"email": "ada@example.com"})
        assert api.post("/v1/journeys/resume/enrollments", json={"contacts": ["ada"]}).json()["results"][0]["status"] == "started"
        [hello] = _mail(stack, "ada@example.com", 1)
        assert api.get("/v1/journeys/resume/runs/ada").json()["state"]["current_node"] == "opened"
        # The worker made the nightly schedule (tagging, then the models) without any tag rule.
        assert asyncio.run(_scheduled_workflow(stack, "tagging-nightly")) == "TaggingWorkflow"
    finally:
        assert stack.stop() == 0
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]

    stack.start()  # same data dir and ports
    try:
        api = httpx.Client(base_url=stack.api, headers=KEY)
        run = api.get("/v1/journeys/resume/runs/ada").json()
        assert run["execution_status"] == "RUNNING" and run["state"]["current_node"] == "opened"
        pixel = re.search(r"/t/o/[A-Za-z0-9_.\-]+", hello["html"]).group(0)
        assert api.get(pixel).status_code == 200
        mail = _mail(stack, "ada@example.com", 2)
        assert [m["subject"] for m in mail] == ["Hello from the stack", "Thanks for reading"]
    finally:
        assert stack.stop() == 0


async def _scheduled_workflow(stack: _Stack, schedule_id: str) -> str:
    client = await Client.connect(f"127.0.0.1:{stack.ports['temporal']}")
    return (await client.get_schedule_handle(schedule_id).describe()).schedule.action.workflow


def _component_pids(stack: _Stack) -> dict[str, int]:
    """The stack's components by name: worker and API run `python -m NAME`, the others by their binary."""
    found = {}
    for child in stack.children():
        try:
            cmdline = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if not cmdline:  # a zombie
            continue
        if cmdline[1:3] in (["-m", "worker"], ["-m", "api"]):
            found[cmdline[2]] = child.pid
        elif cmdline[1:3] == ["-m", "sojourn.dev.smtp_sink"]:
            found["smtp-sink"] = child.pid
        elif cmdline[1:4] == ["server", "start-dev", "--ip"]:
            found["temporal"] = child.pid
        elif cmdline[0].endswith("/postgres") and "-D" in cmdline:
            found["postgres"] = child.pid
    return found


def _wait_for(stack: _Stack, condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert stack.process.poll() is None, "sojourn dev exited:\n" + stack.output()
        if result := condition():
            return result
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def _healthy(stack: _Stack) -> bool:
    try:
        return httpx.get(f"{stack.api}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_dead_worker_or_api_is_restarted_and_the_rest_keeps_running(stack_dir: Path):
    stack = _Stack(stack_dir)
    stack.start()
    try:
        before = _component_pids(stack)
        assert set(before) == {"postgres", "temporal", "smtp-sink", "worker", "api"}

        for name in ("worker", "api"):
            os.kill(before[name], signal.SIGKILL)
            _wait_for(stack, lambda: _component_pids(stack).get(name, before[name]) != before[name],
                      f"{name} was not restarted")
            _wait_for(stack, lambda: _healthy(stack), f"the stack was not healthy again after {name} died")

        after = _component_pids(stack)
        for name in ("postgres", "temporal", "smtp-sink"):
            assert after[name] == before[name], f"{name} was restarted too"
        assert after["worker"] != before["worker"] and after["api"] != before["api"]

        # The new worker does the work: a journey run starts and sends.
        api = httpx.Client(base_url=stack.api, headers=KEY)
        assert api.post("/v1/journeys", json={"id": "resume", "definition": _journey()}).status_code == 201
        api.post("/v1/journeys/resume/activate")
        api.put("/v1/contacts/ada", json={"email": "ada@example.com"})
        api.post("/v1/journeys/resume/enrollments", json={"contacts": ["ada"]})
        _mail(stack, "ada@example.com", 1)
    finally:
        assert stack.stop() == 0
    output = stack.output()
    logs = stack_dir / "logs"
    assert "worker died (signal SIGKILL) after" in output
    assert f"; see {logs / 'worker.log'}; restarting in 1s (death 1 in a row, giving up at 5)" in output
    assert "api died (signal SIGKILL) after" in output and f"see {logs / 'api.log'}" in output
    assert "worker restarted (pid " in output and "api restarted (pid " in output
