"""Channels as a journey names them, and the content a send node gives each: pure models."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Channel = Literal["email", "sms", "push", "line", "webhook"]
CHANNELS = get_args(Channel)


class SmsContent(_Strict):
    text: Annotated[str, Field(min_length=1)]


class PushContent(_Strict):
    title: str | None = None
    body: Annotated[str, Field(min_length=1)]
    data: dict[str, str] = {}  # FCM data values are strings; each is a template


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
