"""The base of the journey language's models: unknown fields are errors, parsed values are frozen.

A boolean field is a `StrictBool`: pydantic would otherwise take "yes", "off" or 1 for one."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
