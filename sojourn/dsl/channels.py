"""Channels as a journey names them: one spec per channel, and the content a send node gives each.

Every list of channel names derives from `SPECS`: the send node's `channel` values and content
fields, the consent rules, the opt-in default, the API's consent channels. Pure (pydantic only),
so workflows and validation read it; each channel's sender is in `sojourn.delivery.channels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field, create_model, field_validator, model_validator

from sojourn.dsl.durations import Duration, parse_duration
from sojourn.dsl.strict import Strict as _Strict


class SmsContent(_Strict):
    text: Annotated[str, Field(min_length=1)]


# FCM keeps an undelivered message at most four weeks.
PUSH_MAX_TTL = timedelta(weeks=4)


class PushContent(_Strict):
    """A notification, and how the platforms deliver it: `ttl` (how long a message for a phone
    that is off is kept), `priority` (`high` wakes the device), `collapse_key` (a newer message
    with the same key replaces an undelivered older one), for Android and APNs alike."""

    title: str | None = None
    body: Annotated[str, Field(min_length=1)]
    data: dict[str, str] = {}  # FCM data values are strings; each is a template
    ttl: Duration | None = None
    priority: Literal["high", "normal"] | None = None
    collapse_key: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("ttl")
    @classmethod
    def _kept_at_most_four_weeks(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) > PUSH_MAX_TTL:
            raise ValueError(f"push ttl {value!r} is longer than FCM keeps a message (4 weeks)")
        return value

    @field_validator("collapse_key")
    @classmethod
    def _fits_apns(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > 64:
            raise ValueError("push collapse_key is at most 64 bytes (APNs' apns-collapse-id)")
        return value


class LineContent(_Strict):
    """A text message, or LINE message objects (template, flex...) whose strings are templates."""

    text: str | None = None
    messages: Annotated[list[dict], Field(min_length=1, max_length=5)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> LineContent:
        if (self.text is None) == (self.messages is None):
            raise ValueError("a line message needs exactly one of `text` or `messages`")
        return self


class WebhookContent(_Strict):
    """POST `body` (JSON whose strings are templates) to `url`, signed; the host must be allowed."""

    url: str
    body: dict = {}

    @field_validator("url")
    @classmethod
    def _web(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"webhook url must start with https:// or http:// (got {value[:100]!r})")
        return value


@dataclass(frozen=True, kw_only=True)
class ChannelSpec:
    name: str
    # The model of its content, which a send node gives in the field named after the channel.
    # None for email, whose content is the send node's own `subject`, `html` and `text`.
    content: type[BaseModel] | None
    # The contact field holding a person's address on this channel. None for a channel that
    # calls a system (the brand's own) at the `url` of its content: no consent or suppression
    # applies, it is not marketing (no quiet hours, no caps), and it cannot be a fallback.
    contact_field: str | None
    address_name: str = ""  # a contact without the address "has no {address_name}"
    # Marketing needs an explicit opt-in unless the OPT_IN_CHANNELS setting leaves it out.
    opt_in: bool = False

    @property
    def person(self) -> bool:
        return self.contact_field is not None


SPECS: dict[str, ChannelSpec] = {spec.name: spec for spec in (
    ChannelSpec(name="email", content=None, contact_field="email", address_name="email address"),
    ChannelSpec(name="sms", content=SmsContent, contact_field="phone", address_name="phone number", opt_in=True),
    ChannelSpec(name="push", content=PushContent, contact_field="push_token", address_name="push token"),
    ChannelSpec(name="line", content=LineContent, contact_field="line_user_id", address_name="LINE user id"),
    ChannelSpec(name="webhook", content=WebhookContent, contact_field=None),
)}

CHANNELS = tuple(SPECS)  # email first: a send node's default
Channel = Literal[CHANNELS]
PERSON_CHANNELS = tuple(name for name, spec in SPECS.items() if spec.person)  # the ones consent is kept for
SYSTEM_CHANNELS = tuple(name for name, spec in SPECS.items() if not spec.person)
CONTENT_CHANNELS = tuple(name for name, spec in SPECS.items() if spec.content is not None)
OPT_IN_BY_DEFAULT = tuple(name for name, spec in SPECS.items() if spec.opt_in)

# A send node's content fields, one per channel in CONTENT_CHANNELS, each optional.
ChannelContents = create_model(
    "ChannelContents", __base__=_Strict,
    **{name: (SPECS[name].content | None, None) for name in CONTENT_CHANNELS})
