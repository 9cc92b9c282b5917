"""docker-compose.yml, read as Docker Compose reads it (no Docker engine here): every setting passed
through the environment, every image pinned, a worker healthcheck that works, and Temporal, its UI
and the mail catcher published on the host's loopback only unless asked otherwise."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from sojourn.services.heartbeat import heartbeat
from sojourn.settings import Settings

ROOT = Path(__file__).parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # merge keys (<<:) resolved
SERVICES = COMPOSE["services"]
SOJOURN_ENV = COMPOSE["x-sojourn-env"]
SOJOURN_SERVICES = ("migrate", "api", "worker")

# Compose interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}.
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def by_default(value: str) -> str:
    """`value` as Compose makes it when no variable is set (a required one fails the test)."""

    def default(match: re.Match) -> str:
        name, kind, text = match.groups()
        assert kind is None or "-" in kind, f"${{{name}}} must be set: {text}"
        return text or ""

    return _VARIABLE.sub(default, str(value))


def test_every_setting_is_passed_to_the_sojourn_containers():
    expected = {name.upper() for name in Settings.model_fields}
    assert not expected - set(SOJOURN_ENV), "settings docker-compose.yml does not pass"
    for service in SOJOURN_SERVICES:
        assert SERVICES[service]["environment"] == SOJOURN_ENV | SERVICES[service]["environment"]
    assert SOJOURN_ENV["ENVIRONMENT"] == "production"


def test_the_defaults_compose_passes_are_valid_settings(monkeypatch: pytest.MonkeyPatch):
    # What production must set itself (`${NAME:?...}`): its own secrets.
    own = {"API_KEYS": "prod-key", "TRACKING_SECRET": "t" * 32, "WEBHOOK_SECRET": "w" * 32,
           "OUTGOING_WEBHOOK_SECRET": "o" * 32, "PAYLOAD_MASTER_KEY": base64.b64encode(b"p" * 32).decode()}
    for name, value in SOJOURN_ENV.items():
        monkeypatch.setenv(name, own[name] if name in own else by_default(value))
    settings = Settings(_env_file=None)
    assert settings.environment == "production" and not settings.dev_mailbox_enabled
    # An empty value (`${NAME:-}`) is the setting's default, never an empty path, list or text.
    assert settings.fcm_service_account_file is None and settings.smtp_username is None
    assert settings.opt_in_channels == ["sms"] and settings.channel_rates == {} and settings.frequency_caps == []
    assert settings.smtp_host == "mailpit" and settings.worker_health_file is not None


def test_every_image_is_pinned_to_a_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in SERVICES.items():
        image = by_default(service["image"])
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag and tag not in ("", "latest"), f"{name}: {image} is not pinned"
        if repository == "sojourn":
            assert tag == version, f"{name}: the image we build is tagged {tag}, the project is {version}"


def test_only_the_api_is_published_beyond_the_host_by_default():
    published = {name: [by_default(port) for port in service.get("ports", [])] for name, service in SERVICES.items()}
    assert published["api"] == ["8000:8000"]
    for name in ("temporal", "temporal-ui", "mailpit"):
        assert published[name] and all(port.startswith("127.0.0.1:") for port in published[name]), published[name]
    assert {name for name, ports in published.items() if ports} == {"api", "temporal", "temporal-ui", "mailpit"}


def test_the_worker_healthcheck_is_the_worker_check(tmp_path: Path):
    assert SERVICES["worker"]["healthcheck"]["test"] == ["CMD", "sojourn", "worker", "--check"]
    alive = tmp_path / "worker.alive"
    env = {"WORKER_HEALTH_FILE": str(alive)}

    def check() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sojourn.cli", "worker", "--check"], check=False, env=env,
                              capture_output=True, text=True, timeout=60)

    gone = check()
    assert gone.returncode == 1 and "does not exist" in gone.stderr
    alive.touch()
    assert check().returncode == 0
    stale = alive.stat().st_mtime - 60
    os.utime(alive, (stale, stale))
    stuck = check()
    assert stuck.returncode == 1 and "stuck" in stuck.stderr


async def test_the_worker_touches_its_health_file_while_it_runs_and_removes_it_after(tmp_path: Path):
    alive = tmp_path / "worker.alive"
    async with heartbeat(alive, interval=0.05):
        await asyncio.sleep(0.01)
        first = alive.stat().st_mtime_ns
        await asyncio.sleep(0.2)
        assert alive.stat().st_mtime_ns > first
    assert not alive.exists()
