"""Pieces every resource's bodies share."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from sojourn.data.ingest.text import EXTERNAL_ID_MAX

T = TypeVar("T")

INT32_MAX = 2**31 - 1  # versions are integer columns

# Path parameters, as long as the columns they name: a longer one can name nothing.
ExternalId = Annotated[str, Path(min_length=1, max_length=EXTERNAL_ID_MAX, description="The contact's external id.")]
ResourceId = Annotated[str, Path(min_length=1, max_length=64)]
Version = Annotated[int, Path(ge=1, le=INT32_MAX)]


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


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a (non-recursive) model with its `$defs` put in place, for a route that
    documents a body it reads raw: `#/$defs/...` would resolve against the OpenAPI document."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)
