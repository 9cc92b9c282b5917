"""ENVIRONMENT=production refuses the development secrets at startup, in every entry point."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from sojourn.dev.stack import StackConfig
from sojourn.settings import Settings

_OWN_SECRETS = {"api_keys": ["prod-key"], "tracking_secret": "t" * 32, "webhook_secret": "w" * 32,
                "outgoing_webhook_secret": "o" * 32, "payload_master_key": base64.b64encode(b"p" * 32).decode()}
_SETTING_VARS = ("ENVIRONMENT", "API_KEYS", "TRACKING_SECRET", "TRACKING_SECRETS", "WEBHOOK_SECRET",
                 "WEBHOOK_SECRETS", "OUTGOING_WEBHOOK_SECRET", "PAYLOAD_MASTER_KEY", "DEV_MAILBOX_ENABLED")


def _start(command: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Runs `sojourn COMMAND` as an operator would, in a folder without a .env; nothing it could
    reach, so a process that passed the settings check fails later, with another message."""
    clean = {k: v for k, v in os.environ.items() if k not in _SETTING_VARS}
    clean.update(TEMPORAL_ADDRESS="127.0.0.1:9", DATABASE_URL="postgresql+asyncpg://x@127.0.0.1:9/x", **env)
    return subprocess.run([sys.executable, "-m", "sojourn.cli", command], cwd=tmp_path, env=clean,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", ["api", "worker"])
def test_production_refuses_every_development_secret_at_startup(command: str, tmp_path: Path) -> None:
    done = _start(command, tmp_path, ENVIRONMENT="production")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for name in ("API_KEYS", "TRACKING_SECRET", "WEBHOOK_SECRET", "OUTGOING_WEBHOOK_SECRET", "PAYLOAD_MASTER_KEY"):
        assert name in lines[0]
    assert "ENVIRONMENT=production" in lines[0]


def test_production_refuses_one_development_secret_and_names_only_it(tmp_path: Path) -> None:
    done = _start("api", tmp_path, ENVIRONMENT="production", API_KEYS="prod-key", TRACKING_SECRET="t" * 32,
                  WEBHOOK_SECRET="w" * 32, PAYLOAD_MASTER_KEY=_OWN_SECRETS["payload_master_key"])
    assert done.returncode != 0
    assert "OUTGOING_WEBHOOK_SECRET" in done.stderr
    assert "API_KEYS" not in done.stderr and " TRACKING_SECRET" not in done.stderr


def test_production_refuses_the_development_key_whatever_its_scope() -> None:
    with pytest.raises(ValidationError, match="development value of API_KEYS"):
        Settings(_env_file=None, **{**_OWN_SECRETS, "api_keys": "prod-key,sojourn-dev-key:viewer"},
                 environment="production")


def test_production_refuses_a_development_secret_kept_for_rotation() -> None:
    with pytest.raises(ValidationError, match="development value of TRACKING_SECRET"):
        Settings(_env_file=None, **{k: v for k, v in _OWN_SECRETS.items() if k != "tracking_secret"},
                 tracking_secrets=f"{'n' * 32},dev-tracking-secret-change-me", environment="production")


def test_development_keeps_its_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.environment == "development"
    assert settings.dev_mailbox_enabled


def test_production_with_own_secrets_turns_the_dev_mailbox_off() -> None:
    settings = Settings(_env_file=None, environment="production", **_OWN_SECRETS)
    assert settings.dev_mailbox_enabled is False


def test_production_refuses_the_dev_mailbox_asked_for() -> None:
    with pytest.raises(ValidationError, match="DEV_MAILBOX_ENABLED=true"):
        Settings(_env_file=None, environment="production", dev_mailbox_enabled=True, **_OWN_SECRETS)


def test_dev_stack_runs_its_components_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert StackConfig(data_dir=Path(".sojourn")).child_env()["ENVIRONMENT"] == "development"


def test_channel_prices_name_known_channels_and_take_no_negative_price(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CHANNEL_PRICES", '{"sms": 0.0079, "email": 0}')
    assert Settings(_env_file=None).channel_prices == {"sms": 0.0079, "email": 0}
    with pytest.raises(ValidationError, match="unknown channel fax"):
        Settings(channel_prices={"fax": 0.1})
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Settings(channel_prices={"sms": -1})
    with pytest.raises(ValidationError, match="USAGE_CURRENCY|usage_currency"):
        Settings(usage_currency="dollars")
