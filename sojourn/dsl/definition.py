"""The journey definition language: pydantic models, pure and workflow-safe.

This module imports only the standard library and pydantic, so the journey
workflow can pass it through the sandbox. Graph rules and template checks live
in `sojourn.validation`, which is not imported by workflows.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from sojourn.dsl.channels import CHANNELS, Channel, LineContent, PushContent, SmsContent, WebhookContent
from sojourn.dsl.durations import Duration
from sojourn.dsl.filters import Filter, PropertyCondition
from sojourn.dsl.send_windows import LocalTime, TimeZoneName


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Node(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str | None = None


class SendNode(_Node):
    """Send one message on the first channel listed that the contact can receive.

    Email's content is `subject`, `html` and `text`; the other channels' is in the field
    named after them. Every string is a Jinja2 template.
    """

    type: Literal["send"]
    channel: Channel | Annotated[list[Channel], Field(min_length=1)] = "email"
    subject: Annotated[str, Field(min_length=1)] | None = None
    html: str | None = None
    text: str | None = None
    from_: Annotated[str | None, Field(alias="from")] = None
    track: bool = True
    sms: SmsContent | None = None
    push: PushContent | None = None
    line: LineContent | None = None
    webhook: WebhookContent | None = None
    # Transactional messages (a receipt, a password reset) skip marketing consent, quiet hours
    # and frequency caps; never suppression.
    transactional: bool = False
    when_quiet: Literal["defer", "skip"] = "defer"  # inside quiet hours: wait for their end, or drop it
    when_capped: Literal["defer", "skip"] = "defer"  # over a frequency cap: wait for room, or drop it
    next: str
    on_failure: str | None = None  # where a run goes when the message failed for good; else `next`

    @field_validator("channel", mode="before")
    @classmethod
    def _known_channels(cls, value: object) -> object:
        listed = value if isinstance(value, list) else [value]
        unknown = [item for item in listed if item not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel {unknown[0]!r}; channels are {', '.join(CHANNELS)}")
        return value

    @property
    def channels(self) -> list[str]:
        return [self.channel] if isinstance(self.channel, str) else list(self.channel)

    @model_validator(mode="after")
    def _content_present(self) -> SendNode:
        channels = self.channels
        if len(set(channels)) != len(channels):
            raise ValueError("a channel is listed twice")
        if "webhook" in channels and len(channels) > 1:
            raise ValueError("`webhook` calls a system, not a person: it cannot be a fallback of other channels")
        if "email" in channels:
            if self.subject is None:
                raise ValueError("an email needs a `subject`")
            if self.text is None and self.html is None:
                raise ValueError("a send node needs `html`, `text` or both")
        # Every other channel's content is in the field named after it.
        for channel in CHANNELS[1:]:
            if channel in channels and getattr(self, channel) is None:
                raise ValueError(f"channel {channel!r} needs its content in `{channel}`")
        return self


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class WaitNode(_Node):
    """Sleep for a `duration`, `until` an absolute datetime with a time zone, or until a local
    time of day `at` (on one of `weekdays`) in the contact's time zone (else the journey's,
    else the brand's)."""

    type: Literal["wait"]
    duration: Duration | None = None
    until: datetime | None = None
    at: LocalTime | None = None
    weekdays: Annotated[list[Weekday], Field(min_length=1)] | None = None
    # "event": the duration counts from the triggering event's own timestamp, not from arrival here.
    relative_to: Literal["node", "event"] = "node"
    next: str


    @field_validator("until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("`until` needs a time zone, for example 2026-05-01T09:00:00+08:00")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> WaitNode:
        if [self.duration, self.until, self.at].count(None) != 2:
            raise ValueError("a wait node needs exactly one of `duration`, `until` or `at`")
        if self.weekdays is not None and self.at is None:
            raise ValueError("`weekdays` goes with `at`")
        if self.relative_to == "event" and self.duration is None:
            raise ValueError("`relative_to: event` goes with a `duration`")
        return self


Engagement = Literal["opened", "clicked"]


class EngagementCondition(_Strict):
    """True when the contact opened (or clicked, optionally one link in) an earlier send."""

    opened: str | None = None
    clicked: str | None = None
    link: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> EngagementCondition:
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


class EventCondition(_Strict):
    """An event the contact performs, with conditions on its properties."""

    event: Annotated[str, Field(min_length=1, max_length=200)]
    where: list[PropertyCondition] = []


def _condition_kind(value) -> str | None:
    if isinstance(value, BaseModel):
        return "engagement" if isinstance(value, EngagementCondition) else "event"
    if isinstance(value, dict):
        return "engagement" if ("opened" in value or "clicked" in value) else "event"
    return None


WaitCondition = Annotated[
    Annotated[EngagementCondition, Tag("engagement")] | Annotated[EventCondition, Tag("event")],
    Discriminator(_condition_kind),
]


class WaitForNode(_Node):
    """Wait until the contact engages with an earlier send or performs an event, or until `timeout`."""

    type: Literal["wait_for"]
    event: WaitCondition
    timeout: Duration
    on_event: str
    on_timeout: str


def _when_kind(value) -> str | None:
    if isinstance(value, EngagementCondition) or (isinstance(value, dict) and ("opened" in value or "clicked" in value)):
        return "engagement"
    return "filter" if isinstance(value, (dict, BaseModel)) else None


BranchCondition = Annotated[
    Annotated[EngagementCondition, Tag("engagement")] | Annotated[Filter, Tag("filter")],
    Discriminator(_when_kind),
]


class Case(_Strict):
    when: BranchCondition
    then: str


class BranchNode(_Node):
    """`condition` with `then` / `else`, or `cases` (the first that holds wins) and a `default`.

    Engagement conditions ({opened: send}) are decided by the run itself; every other
    condition (attributes, tags, events, segments) is asked of the database at that moment.
    """

    type: Literal["branch"]
    condition: BranchCondition | None = None
    then: str | None = None
    else_: Annotated[str | None, Field(alias="else")] = None
    cases: list[Case] | None = None
    default: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> BranchNode:
        simple = (self.condition, self.then, self.else_)
        if self.cases is not None:
            if any(v is not None for v in simple):
                raise ValueError("use either `condition`/`then`/`else` or `cases`/`default`, not both")
            if not self.cases or self.default is None:
                raise ValueError("`cases` needs at least one case and a `default`")
        elif any(v is None for v in simple) or self.default is not None:
            raise ValueError("a branch needs `condition`, `then` and `else` (or `cases` and `default`)")
        return self

    def arms(self) -> list[tuple[object, str]]:
        """(condition, target) in the order they are tried; the last has no condition."""
        if self.cases is None:
            return [(self.condition, self.then), (None, self.else_)]
        return [(case.when, case.then) for case in self.cases] + [(None, self.default)]


class ExitNode(_Node):
    type: Literal["exit"]


class TagNode(_Node):
    """Change one of the contact's tags: `add` (or set) it with `weight`, `increment` it by
    `weight` (from 0 if absent), or `remove` it. Segments and branches read tag weights."""

    type: Literal["tag"]
    tag: Annotated[str, Field(min_length=1, max_length=100)]
    action: Literal["add", "increment", "remove"] = "add"
    weight: float = 1.0
    next: str


Node = Annotated[
    SendNode | WaitNode | WaitForNode | BranchNode | TagNode | ExitNode,
    Field(discriminator="type"),
]


class Calendar(_Strict):
    """Local time `at` (HH:MM) on the listed `weekdays`, `days` of the month and `months`;
    one left out means every one."""

    at: LocalTime
    weekdays: Annotated[list[Weekday], Field(min_length=1)] | None = None
    days: Annotated[list[Annotated[int, Field(ge=1, le=31)]], Field(min_length=1)] | None = None
    months: Annotated[list[Annotated[int, Field(ge=1, le=12)]], Field(min_length=1)] | None = None


class Schedule(_Strict):
    """When a scheduled journey fires, in `time_zone`: a `cron` expression (minute hour day
    month weekday), or a `calendar` ({at: "11:00", weekdays: [wed]})."""

    cron: Annotated[str, Field(pattern=r"^\S+( \S+){4}$")] | None = None
    calendar: Calendar | None = None
    time_zone: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _one_spec(self) -> Schedule:
        if (self.cron is None) == (self.calendar is None):
            raise ValueError("a schedule is either a `cron` expression or a `calendar`")
        return self


class Entry(_Strict):
    """How contacts enter besides enrollment over the API: by performing an event, by coming
    to match a segment, or all of an `audience` segment at each firing of a `schedule`;
    optionally only between `starts_at` and `ends_at`."""

    event: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    where: list[PropertyCondition] = []
    # A dotted path in the triggering event (`properties.cart_id`): one run per key per contact.
    key: Annotated[str | None, Field(pattern=r"^properties\.[A-Za-z0-9_.-]+$")] = None
    segment: str | None = None
    schedule: Schedule | None = None
    audience: str | None = None  # the segment enrolled at each firing of the schedule
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> Entry:
        if [self.event, self.segment, self.schedule].count(None) < 2:
            raise ValueError("entry is by one of `event`, `segment` or `schedule`")
        if (self.schedule is None) != (self.audience is None):
            raise ValueError("a `schedule` entry needs an `audience` segment, and `audience` goes with `schedule`")
        if self.event is None and (self.where or self.key):
            raise ValueError("`where` and `key` go with an entry `event`")
        for bound in (self.starts_at, self.ends_at):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("`starts_at` / `ends_at` need a time zone")
        return self


class Reentry(_Strict):
    """`never` (default): once per contact; `after_exit`: again once the last run ended;
    `always`: again once the last run ended and `cooldown` has passed since it began."""

    policy: Literal["never", "after_exit", "always"] = "never"
    cooldown: Duration | None = None


class Goal(EventCondition):
    """The event that counts as a conversion when it comes `within` the run's start; ends the run if `exit`."""

    within: Duration | None = None
    exit: bool = True


class QuietHours(_Strict):
    """Local times (the contact's zone) between which no marketing message goes out; may span midnight."""

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours need different `start` and `end`")
        return self


class JourneyDefinition(_Strict):
    """A whole journey: its nodes, and the node it starts at (the first by default)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str | None = None
    time_zone: TimeZoneName | None = None  # for contacts without one; else the brand's
    quiet_hours: QuietHours | None = None  # replaces the brand's QUIET_HOURS for this journey
    priority: int = 0  # when a frequency cap leaves room for one message, the higher priority goes
    entry: Entry | None = None
    exit_on: list[EventCondition] = []
    goal: Goal | None = None
    reentry: Reentry = Reentry()
    start: str | None = None
    nodes: Annotated[list[Node], Field(min_length=1, max_length=500)]

    def event_names(self) -> set[str]:
        """Events this journey listens for while a run is in it."""
        names = {c.event for c in self.exit_on} | ({self.goal.event} if self.goal else set())
        names |= {n.event.event for n in self.nodes if isinstance(n, WaitForNode) and isinstance(n.event, EventCondition)}
        return names

    @property
    def start_id(self) -> str:
        return self.start or self.nodes[0].id

    def node_map(self) -> dict[str, SendNode | WaitNode | WaitForNode | BranchNode | ExitNode]:
        return {node.id: node for node in self.nodes}

    def single_send(self) -> SendNode | None:
        """The send node, when the journey is only that: it starts at a send whose every way
        out is an exit. Such a journey can go out in batches, with no run per contact."""
        nodes = self.node_map()
        first = nodes[self.start_id]
        if isinstance(first, SendNode) and all(isinstance(nodes[target], ExitNode)
                                               for target in successors(first).values()):
            return first
        return None


def successors(node: SendNode | WaitNode | WaitForNode | BranchNode | TagNode | ExitNode) -> dict[str, str]:
    """The node's outgoing edges, as {field name: target node id}."""
    if isinstance(node, SendNode):
        return {"next": node.next, **({"on_failure": node.on_failure} if node.on_failure else {})}
    if isinstance(node, (WaitNode, TagNode)):
        return {"next": node.next}
    if isinstance(node, WaitForNode):
        return {"on_event": node.on_event, "on_timeout": node.on_timeout}
    if isinstance(node, BranchNode):
        if node.cases is None:
            return {"then": node.then, "else": node.else_}
        return {**{f"cases.{i}.then": case.then for i, case in enumerate(node.cases)}, "default": node.default}
    return {}


_SHARED: OrderedDict[tuple[str, int, int], tuple[dict, JourneyDefinition]] = OrderedDict()
_SHARED_MAX = 512


def shared_definition(journey_id: str, version: int, raw: dict) -> tuple[dict, JourneyDefinition]:
    """One parsed (and one raw) copy per journey version for all the runs a worker caches.

    Versions are immutable, so runs of the same version can share them; the content hash
    in the key keeps a database reset from serving a stale definition under an old id.
    """
    key = (journey_id, version, hash(json.dumps(raw, sort_keys=True)))
    found = _SHARED.get(key)
    if found is None:
        found = (raw, JourneyDefinition.model_validate(raw))
        _SHARED[key] = found
        if len(_SHARED) > _SHARED_MAX:
            _SHARED.popitem(last=False)
    else:
        _SHARED.move_to_end(key)
    return found
