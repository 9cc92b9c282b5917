"""Pieces every resource's bodies share."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class StrictIn(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to get the next page; null on the last page.")


class ErrorBody(BaseModel):
    code: str = Field(description="What went wrong, for programs: validation_error, not_found, unauthorized...")
    message: str = Field(description="What went wrong, for people.")
    details: list[Any] = Field(description="For a validation error, each problem as {field, message, type}.")


class ErrorOut(BaseModel):
    """Every refusal and failure has this shape."""

    error: ErrorBody
