"""Every knob is an environment variable with an embedded default."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class FrequencyCap(BaseModel):
    """At most `max` marketing messages per contact in any rolling `per` (on `channel`, or all)."""

    max: int = Field(ge=0)
    per: str = Field(description="A duration: 7d, 24h, P1W")
    channel: str | None = None

    @field_validator("per")
    @classmethod
    def _duration(cls, value: str) -> str:
        from sojourn.dsl.durations import parse_duration  # noqa: PLC0415 - settings import nothing of ours at load

        parse_duration(value)
        return value


def _opt_in_by_default() -> list[str]:
    from sojourn.dsl.channels import OPT_IN_BY_DEFAULT  # noqa: PLC0415 - settings import nothing of ours at load

    return list(OPT_IN_BY_DEFAULT)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Path(".sojourn")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/sojourn"

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "sojourn"
    # Sleeping journeys kept in worker memory (about 100 KB each); evicted ones replay when they wake.
    worker_max_cached_workflows: int = 10_000

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_use_tls: bool = False  # implicit TLS, usually port 465
    smtp_start_tls: bool = False
    smtp_timeout: float = 10.0
    smtp_connections: int = Field(4, ge=1)  # kept open per worker and shared by its sends
    mail_from: str = "Sojourn <journeys@sojourn.example>"  # an address a receiver accepts: not .local
    message_id_domain: str = "sojourn.local"

    public_base_url: str = "http://127.0.0.1:8000"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_keep_alive: int = Field(75, ge=1)  # seconds an idle client connection stays open (clients keep 5-60)
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["sojourn-dev-key"])
    tracking_secret: str = "dev-tracking-secret-change-me"
    webhook_secret: str = "dev-webhook-secret-change-me"
    # Seconds after a send within which a click is taken for a link scanner's (stored, flagged,
    # not engagement); 0 turns the rule off. See the README's "Tracking" section for why 10.
    automated_click_window: float = Field(10.0, ge=0)
    max_body_bytes: int = 1_000_000
    # Bulk routes read bigger bodies: a 10,000-event batch (POST /v1/events) and a streamed
    # contact import (POST /v1/contacts/import, read in chunks, never held whole).
    max_batch_body_bytes: int = 20_000_000
    max_import_body_bytes: int = 2_000_000_000
    auto_create_contacts: bool = True  # an event naming an unknown contact creates it
    dev_mailbox_enabled: bool = True

    # Engagement signals: opens and clicks reach their runs after the answer; one not delivered
    # within this many seconds is retried from its stored row (see sojourn/services/engagement_signals.py).
    engagement_signal_retry: float = Field(10.0, gt=0)

    temporal_ui_port: int = 8233
    postgres_port: int = 5433

    # Channels. Each provider's base URL is a setting so tests (and regional endpoints) can move it.
    provider_timeout: float = 10.0  # seconds for one provider request
    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None  # a phone number, or a Messaging Service SID (MG...)
    fcm_base_url: str = "https://fcm.googleapis.com"
    fcm_project_id: str | None = None
    fcm_access_token: str | None = None  # an OAuth 2 bearer token with the firebase.messaging scope
    fcm_service_account_file: Path | None = None  # or a service account's JSON key: tokens are then fetched
    line_base_url: str = "https://api.line.me"
    line_channel_access_token: str | None = None
    line_channel_secret: str | None = None  # verifies LINE's webhook (x-line-signature)
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    outgoing_webhook_secret: str = "dev-outgoing-webhook-secret-change-me"
    # Messages per second per channel, shared by every worker, e.g. {"sms": 10}. Unset: no limit.
    channel_rates: dict[str, float] = Field(default_factory=dict)
    # Channels on which marketing needs an explicit opt-in (by default those whose spec says so: sms);
    # elsewhere unknown consent may receive.
    opt_in_channels: Annotated[list[str], NoDecode] = Field(default_factory=_opt_in_by_default)

    # Send windows and limits for every journey. Times of day are in each contact's own zone,
    # else the journey's, else this one.
    brand_time_zone: str = "UTC"
    quiet_hours: str | None = None  # "22:00-08:00": no marketing message between those local times
    frequency_caps: list[FrequencyCap] = Field(default_factory=list)  # e.g. [{"max": 3, "per": "7d"}]

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        if value:
            from sojourn.dsl.send_windows import parse_local_time  # noqa: PLC0415

            start, _, end = value.partition("-")
            parse_local_time(start.strip())
            parse_local_time(end.strip())
        return value or None

    @field_validator("mail_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        from sojourn.dsl.addresses import address_problem  # noqa: PLC0415

        problem = address_problem(value)
        if problem is not None:
            raise ValueError(f"MAIL_FROM {problem}")
        return value

    @field_validator("api_keys", "webhook_allowed_hosts", "opt_in_channels", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
