"""Every knob is an environment variable with an embedded default."""

import base64
import hashlib
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
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


class Scope(StrEnum):
    """What an API key may do: admin everything; editor all but erasure and the audit log;
    viewer only read; ingest only write contacts and events."""

    admin = "admin"
    editor = "editor"
    viewer = "viewer"
    ingest = "ingest"


class ApiKey(BaseModel):
    """One entry of API_KEYS: `key` or `key:scope` (a key without a scope is admin)."""

    secret: str = Field(min_length=1, repr=False)
    scope: Scope = Scope.admin

    @model_validator(mode="before")
    @classmethod
    def _from_entry(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        secret, colon, scope = value.rpartition(":")
        if not colon:
            return {"secret": value}
        if scope not in Scope.__members__:
            # Never echo the entry: it is a secret, and a typo must not quietly make an admin key.
            raise ValueError(f"what follows the last ':' is not a scope ({', '.join(Scope)}); "
                             "a key with ':' in it needs its scope after a last ':'")
        return {"secret": secret, "scope": scope}

    @property
    def name(self) -> str:
        """Who used the key, for the audit log: a fingerprint, never the key itself."""
        return f"key:{hashlib.sha256(self.secret.encode()).hexdigest()[:12]}"


def _opt_in_by_default() -> list[str]:
    from sojourn.dsl.channels import OPT_IN_BY_DEFAULT  # noqa: PLC0415 - settings import nothing of ours at load

    return list(OPT_IN_BY_DEFAULT)


# Development defaults: they let `make run` work out of the box, and production refuses them.
DEV_API_KEY = "sojourn-dev-key"
DEV_TRACKING_SECRET = "dev-tracking-secret-change-me"
DEV_WEBHOOK_SECRET = "dev-webhook-secret-change-me"
DEV_OUTGOING_WEBHOOK_SECRET = "dev-outgoing-webhook-secret-change-me"
DEV_PAYLOAD_MASTER_KEY = "ZGV2LXBheWxvYWQtbWFzdGVyLWtleS1jaGFuZ2UtbWU="


class Settings(BaseSettings):
    # An empty variable is an unset one: docker-compose.yml passes every setting, `${NAME:-}` when
    # the default is none, and an empty FCM_SERVICE_ACCOUNT_FILE must not become the path ".".
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    # Environment: production refuses the development secrets and keys, and turns the dev mailbox off.
    environment: Literal["development", "production"] = "development"

    data_dir: Path = Path(".sojourn")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/sojourn"

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "sojourn"
    # Sleeping journeys kept in worker memory (about 100 KB each); evicted ones replay when they wake.
    worker_max_cached_workflows: int = 10_000

    # Worker healthcheck: a file the worker touches every few seconds while it polls (unset: none);
    # `sojourn worker --check` says whether it is fresh.
    worker_health_file: Path | None = None

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
    # Comma-separated `key` or `key:scope` (admin, editor, viewer, ingest; no scope: admin).
    api_keys: Annotated[list[ApiKey], NoDecode] = Field(default_factory=lambda: [ApiKey(secret=DEV_API_KEY)])
    # Payload encryption (crypto-shredding): a contact's journey payloads in Temporal are encrypted
    # with the contact's own data key, stored wrapped by this master key (32 bytes, base64); erasure
    # destroys the data key. The default is for development only. Keys are cached per process: a
    # key another process destroyed stops decoding here within `payload_key_cache_seconds`.
    payload_master_key: str = DEV_PAYLOAD_MASTER_KEY
    payload_key_cache_size: int = Field(10_000, ge=1)
    payload_key_cache_seconds: float = Field(60.0, gt=0)
    # Origins whose pages may call the API from a browser, e.g. the Temporal Web UI calling
    # POST /codec/decode (http://127.0.0.1:8233 in development). Empty: no cross-origin calls.
    codec_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("payload_master_key")
    @classmethod
    def _master_key(cls, value: str) -> str:
        try:
            key = base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError("must be base64") from None
        if len(key) != 32:
            raise ValueError("must be 32 bytes (44 base64 characters): openssl rand -base64 32")
        return value

    tracking_secret: str = DEV_TRACKING_SECRET
    webhook_secret: str = DEV_WEBHOOK_SECRET
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

    # Prometheus metrics (README "Metrics"). The API serves its own at /metrics, without an API key
    # (it holds counts by route template, channel and status, nothing of a contact); off when false.
    api_metrics_enabled: bool = True
    # The worker serves Sojourn's metrics on this port and the Temporal SDK's on the other (0: off),
    # on this host (127.0.0.1: this machine only; 0.0.0.0 where a scraper on the network reads them).
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(9464, ge=0, le=65535)
    worker_temporal_metrics_port: int = Field(9465, ge=0, le=65535)
    # API capacity: `sojourn api` serves with this many processes (each with its own event loop,
    # engine and signal senders), and each process opens up to this many database connections
    # (kept open once opened). One process's loop tops out at one core.
    api_workers: int = Field(1, ge=1)
    database_pool_size: int = Field(20, ge=1)

    temporal_ui_port: int = 8233
    postgres_port: int = 5433

    # Logs: `text` for people, `json` (one object a line, with journey, contact and message ids) for a log pipeline.
    log_format: Literal["text", "json"] = "text"

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
    outgoing_webhook_secret: str = DEV_OUTGOING_WEBHOOK_SECRET
    # Messages per second per channel, shared by every worker, e.g. {"sms": 10}. Unset: no limit.
    channel_rates: dict[str, float] = Field(default_factory=dict)
    # Channels on which marketing needs an explicit opt-in (by default those whose spec says so: sms);
    # elsewhere unknown consent may receive.
    opt_in_channels: Annotated[list[str], NoDecode] = Field(default_factory=_opt_in_by_default)

    # Signatures, secret rotation and where webhooks may go (README "Signatures, secrets and outgoing calls").
    # Seconds a signed webhook's timestamp may be from now: a captured request replays no later.
    webhook_tolerance: float = Field(300.0, gt=0)
    # Comma-separated, newest first: the first signs, every one verifies, so rotating keeps links
    # already sent working. Unset: [TRACKING_SECRET] (and [WEBHOOK_SECRET]); setting both is refused.
    tracking_secrets: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_secrets: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Outgoing webhooks reach public addresses on these ports only ("*": any port); allowing
    # private networks lets them reach loopback, private, link-local... addresses too.
    webhook_allow_private_networks: bool = False
    webhook_allowed_ports: Annotated[list[int] | Literal["*"], NoDecode] = Field(default_factory=lambda: [80, 443])
    # Providers talking back: phone numbers as contacts give them, Twilio's status callbacks and
    # inbound texts, SendGrid's Event Webhook.
    default_phone_region: str | None = None  # e.g. "TW": reads 0912-345-678 as +886912345678; unset: + required
    sms_help_text: str = "Reply STOP to unsubscribe, START to subscribe again."  # the answer to an inbound HELP
    sendgrid_webhook_public_key: str | None = None  # the Event Webhook's verification key (base64 DER, or PEM)

    # Send windows and limits for every journey. Times of day are in each contact's own zone,
    # else the journey's, else this one.
    brand_time_zone: str = "UTC"
    quiet_hours: str | None = None  # "22:00-08:00": no marketing message between those local times
    frequency_caps: list[FrequencyCap] = Field(default_factory=list)  # e.g. [{"max": 3, "per": "7d"}]

    # Metering: what a billable unit costs per channel (an email, an SMS segment, a push...), e.g.
    # {"sms": 0.0079, "email": 0.0001}, in USAGE_CURRENCY; a channel left out costs nothing.
    # Each message records its cost when it goes, so a later price applies to later messages only.
    channel_prices: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(default_factory=dict)
    usage_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")

    # Experiments: the brand-wide control group, a stable share of contacts (by contact id) that
    # receives no marketing message from any journey; transactional ones still go.
    global_control_percent: float = Field(0.0, ge=0, lt=100, allow_inf_nan=False)

    # Console: where its links to a run open in the Temporal Web UI (`sojourn dev` serves it here).
    temporal_ui_url: str = "http://localhost:8233"

    # Predictions: lifetime value reads purchases as the events named PURCHASE_EVENT, each worth
    # its PURCHASE_VALUE_PROPERTY (a number or numeric text; missing or not a number counts 0),
    # and predicts LTV_HORIZON_DAYS ahead, a chunk of PREDICTION_CHUNK_CONTACTS contacts at a time.
    purchase_event: str = Field("purchase", min_length=1, max_length=200)
    purchase_value_property: str = Field("amount", min_length=1, max_length=200)
    ltv_horizon_days: int = Field(90, ge=1, le=3650)
    prediction_chunk_contacts: int = Field(50_000, ge=100)

    # Recommendations: RECOMMENDATIONS_PER_CONTACT products per contact (at most 50, what a
    # template's recommend(n) may ask for), from co-occurrence over RECOMMENDATION_HISTORY_DAYS of
    # product events, a contact's own halved every RECOMMENDATION_HALF_LIFE_DAYS; evaluated on
    # the last RECOMMENDATION_EVALUATION_DAYS (used only if it beats popularity's precision@5).
    recommendations_per_contact: int = Field(10, ge=1, le=50)
    recommendation_history_days: int = Field(365, ge=1, le=3650)
    recommendation_half_life_days: float = Field(30.0, gt=0, le=3650)
    recommendation_evaluation_days: int = Field(30, ge=1, le=365)
    # Purchase propensity and churn: PURCHASE_<N>D is the chance of a purchase within
    # PROPENSITY_HORIZON_DAYS; CHURN_<N>D, for contacts who bought before, the chance of no
    # purchase within CHURN_HORIZON_DAYS. Each is trained and validated on the windows before.
    propensity_horizon_days: int = Field(30, ge=1, le=365)
    churn_horizon_days: int = Field(90, ge=1, le=730)
    # Affinity tags: each product event counts its AFFINITY_EVENT_WEIGHTS weight (a JSON object of
    # event name -> weight; unset: viewed_product 1, added_to_cart 3, PURCHASE_EVENT 10), halved every
    # AFFINITY_HALF_LIFE_DAYS; up to AFFINITY_TOPICS topics learned from the catalogue; the product
    # attributes named in AFFINITY_ATTRIBUTES (e.g. ["skin_type"]) become tags too; weights (0..1,
    # 1 the contact's strongest of a kind) below AFFINITY_MIN_WEIGHT are not stored.
    affinity_event_weights: dict[Annotated[str, Field(min_length=1, max_length=200)],
                                 Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]] | None = None
    affinity_half_life_days: float = Field(30.0, gt=0, le=3650, allow_inf_nan=False)
    affinity_topics: int = Field(20, ge=0, le=200)
    affinity_attributes: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    affinity_min_weight: float = Field(0.1, ge=0, le=1, allow_inf_nan=False)

    @field_validator("affinity_attributes")
    @classmethod
    def _affinity_attributes(cls, value: list[str]) -> list[str]:
        from sojourn.predict.affinity import RESERVED_KINDS, slug  # noqa: PLC0415

        for key in value:
            if slug(key) in RESERVED_KINDS or not slug(key):
                raise ValueError(f"AFFINITY_ATTRIBUTES: {key!r} would name tags like affinity:{slug(key)}:..., "
                                 f"which {', '.join(sorted(RESERVED_KINDS))} and empty names cannot be")
        return value

    @field_validator("affinity_event_weights")
    @classmethod
    def _affinity_event_weights(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None and not value:
            raise ValueError("AFFINITY_EVENT_WEIGHTS: name at least one event (or leave it unset)")
        return value
    # Best send time: each contact's best hour from the first open or click of each message in the
    # last SEND_TIME_LOOKBACK_DAYS, shrunk toward the brand's hours by SEND_TIME_PRIOR_STRENGTH
    # pseudo-opens, used only if it beats the brand's hour on the last SEND_TIME_HOLDOUT_DAYS;
    # `at: best_time` sends at SEND_TIME_DEFAULT_HOUR (local) until a first fit gives the brand's.
    send_time_prior_strength: float = Field(5.0, gt=0, le=1000)
    send_time_lookback_days: int = Field(180, ge=2, le=3650)
    send_time_holdout_days: int = Field(28, ge=1, le=365)
    send_time_default_hour: int = Field(10, ge=0, le=23)

    @field_validator("channel_prices")
    @classmethod
    def _priced_channels(cls, value: dict[str, float]) -> dict[str, float]:
        from sojourn.dsl.channels import SPECS  # noqa: PLC0415

        unknown = sorted(set(value) - set(SPECS))
        if unknown:
            raise ValueError(f"unknown channel {', '.join(unknown)}; channels are {', '.join(SPECS)}")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        if value:
            from sojourn.dsl.send_windows import parse_local_time  # noqa: PLC0415

            start, _, end = value.partition("-")
            parse_local_time(start.strip())
            parse_local_time(end.strip())
        return value or None

    @field_validator("default_phone_region")
    @classmethod
    def _phone_region(cls, value: str | None) -> str | None:
        if not value:
            return None
        import phonenumbers  # noqa: PLC0415 - only when a region is set: every process loads settings at start

        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"DEFAULT_PHONE_REGION {value!r} is not a region code like TW or US")
        return value.upper()

    @field_validator("mail_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        from sojourn.dsl.addresses import address_problem  # noqa: PLC0415

        problem = address_problem(value)
        if problem is not None:
            raise ValueError(f"MAIL_FROM {problem}")
        return value

    @model_validator(mode="after")
    def _rotating_secrets(self) -> Self:
        for single, rotating in (("tracking_secret", "tracking_secrets"), ("webhook_secret", "webhook_secrets")):
            listed = getattr(self, rotating)
            if not listed:
                setattr(self, rotating, [getattr(self, single)])
            elif single in self.model_fields_set and getattr(self, single) != listed[0]:
                raise ValueError(f"set {rotating.upper()} or {single.upper()}, not both: "
                                 f"{rotating.upper()}'s first secret is the one that signs")
            else:
                setattr(self, single, listed[0])  # the one that signs
        return self

    @field_validator("webhook_allowed_ports", mode="before")
    @classmethod
    def _ports(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() != "*":
            return [int(port) for port in value.split(",") if port.strip()]
        return value.strip() if isinstance(value, str) else value

    @field_validator("api_keys", "webhook_allowed_hosts", "opt_in_channels", "tracking_secrets", "webhook_secrets",
                     "codec_cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @model_validator(mode="after")
    def _production_refuses_development_defaults(self) -> Self:
        if self.environment != "production":
            return self
        offending = [name for name, used in (
            ("API_KEYS", any(key.secret == DEV_API_KEY for key in self.api_keys)),
            ("TRACKING_SECRET", DEV_TRACKING_SECRET in (self.tracking_secret, *self.tracking_secrets)),
            ("WEBHOOK_SECRET", DEV_WEBHOOK_SECRET in (self.webhook_secret, *self.webhook_secrets)),
            ("OUTGOING_WEBHOOK_SECRET", self.outgoing_webhook_secret == DEV_OUTGOING_WEBHOOK_SECRET),
            ("PAYLOAD_MASTER_KEY", self.payload_master_key == DEV_PAYLOAD_MASTER_KEY),
        ) if used]
        if offending:
            raise ValueError(f"ENVIRONMENT=production refuses the development value of {', '.join(offending)}: "
                             "set your own")
        # Asked for explicitly, the mailbox is a contradiction to report; left unset, it is simply off.
        if self.dev_mailbox_enabled and "dev_mailbox_enabled" in self.model_fields_set:
            raise ValueError("ENVIRONMENT=production refuses DEV_MAILBOX_ENABLED=true: the dev mailbox "
                             "is for development only")
        self.dev_mailbox_enabled = False
        return self


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]).upper()
    cause = error.get("ctx", {}).get("error")
    message = str(cause) if isinstance(cause, ValueError) else error["msg"]
    return f"{where}: {message}" if where else message


@lru_cache
def get_settings() -> Settings:
    """The settings of a process that is starting: invalid ones stop it with one line naming each problem."""
    try:
        return Settings()
    except ValidationError as err:
        raise SystemExit(f"invalid settings: {'; '.join(_problem(e) for e in err.errors())}") from None
