"""The journey definition language: pydantic models, pure and workflow-safe.

This module imports only the standard library and pydantic, so the journey
workflow can pass it through the sandbox. Graph rules and template checks live
in `sojourn.validation`, which is not imported by workflows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sojourn.durations import parse_duration

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Node(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str | None = None


class SendNode(_Node):
    """Send one message. `subject`, `html` and `text` are Jinja2 templates."""

    type: Literal["send"]
    channel: Literal["email"] = "email"
    subject: Annotated[str, Field(min_length=1)]
    html: str | None = None
    text: str | None = None
    from_: Annotated[str | None, Field(alias="from")] = None
    track: bool = True
    next: str

    @model_validator(mode="after")
    def _body_present(self) -> "SendNode":
        if self.text is None and self.html is None:
            raise ValueError("a send node needs `html`, `text` or both")
        return self


class WaitNode(_Node):
    """Sleep for a `duration`, or `until` an absolute datetime with a time zone."""

    type: Literal["wait"]
    duration: str | None = None
    until: datetime | None = None
    next: str

    @field_validator("duration")
    @classmethod
    def _valid_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("`until` needs a time zone, for example 2026-05-01T09:00:00+08:00")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> "WaitNode":
        if (self.duration is None) == (self.until is None):
            raise ValueError("a wait node needs exactly one of `duration` or `until`")
        return self


Engagement = Literal["opened", "clicked"]


class EngagementCondition(_Strict):
    """True when the contact opened (or clicked, optionally one link in) an earlier send."""

    opened: str | None = None
    clicked: str | None = None
    link: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> "EngagementCondition":
        if (self.opened is None) == (self.clicked is None):
            raise ValueError("a condition names exactly one of `opened` or `clicked`")
        if self.link is not None and self.clicked is None:
            raise ValueError("`link` only applies to `clicked`")
        return self

    @property
    def kind(self) -> Engagement:
        return "opened" if self.opened is not None else "clicked"

    @property
    def send_node(self) -> str:
        return self.opened if self.opened is not None else self.clicked  # type: ignore[return-value]


class WaitForNode(_Node):
    """Wait until the contact engages with an earlier send, or until `timeout` passes."""

    type: Literal["wait_for"]
    event: EngagementCondition
    timeout: str
    on_event: str
    on_timeout: str

    @field_validator("timeout")
    @classmethod
    def _valid_timeout(cls, value: str) -> str:
        parse_duration(value)
        return value


class BranchNode(_Node):
    """Go to `then` if the condition holds now, else to `else`."""

    type: Literal["branch"]
    condition: EngagementCondition
    then: str
    else_: Annotated[str, Field(alias="else")]


class ExitNode(_Node):
    type: Literal["exit"]


Node = Annotated[
    Union[SendNode, WaitNode, WaitForNode, BranchNode, ExitNode],
    Field(discriminator="type"),
]


class JourneyDefinition(_Strict):
    """A whole journey: its nodes, and the node it starts at (the first by default)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str | None = None
    start: str | None = None
    nodes: Annotated[list[Node], Field(min_length=1, max_length=500)]

    @property
    def start_id(self) -> str:
        return self.start or self.nodes[0].id

    def node_map(self) -> dict[str, SendNode | WaitNode | WaitForNode | BranchNode | ExitNode]:
        return {node.id: node for node in self.nodes}


def successors(node: SendNode | WaitNode | WaitForNode | BranchNode | ExitNode) -> dict[str, str]:
    """The node's outgoing edges, as {field name: target node id}."""
    if isinstance(node, (SendNode, WaitNode)):
        return {"next": node.next}
    if isinstance(node, WaitForNode):
        return {"on_event": node.on_event, "on_timeout": node.on_timeout}
    if isinstance(node, BranchNode):
        return {"then": node.then, "else": node.else_}
    return {}
