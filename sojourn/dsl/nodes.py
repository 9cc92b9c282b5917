"""The journey's node types: one model each, and the `Node` union every table derives from.

A node class declares, besides its fields, the fields that name where a run goes next
(`edge_fields`), the fields holding engagement conditions it decides on (`condition_fields`)
and whether a run rests there (`rests`). Validation and the interpreter read these from the
union, so adding a node type is adding its class here (and to `AnyNode`) and its handler to
the interpreter.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import AfterValidator, BaseModel, Field, StrictBool, field_validator, model_validator

from sojourn.dsl.channels import CHANNELS, CONTENT_CHANNELS, SYSTEM_CHANNELS, Channel, ChannelContents
from sojourn.dsl.conditions import BranchCondition, WaitCondition
from sojourn.dsl.durations import Duration, parse_duration
from sojourn.dsl.send_windows import parse_local_time
from sojourn.dsl.strict import Strict


class _Node(Strict):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str | None = None

    # Paths as an author writes them (aliases; "*" stands for every item of a list).
    edge_fields: ClassVar[tuple[str, ...]] = ()
    condition_fields: ClassVar[tuple[str, ...]] = ()
    # A run rests here (on the clock or for the contact): operators find it by its JourneyNode
    # search attribute, and a loop through such a node cannot spin.
    rests: ClassVar[bool] = False

    def edges(self) -> dict[str, str]:
        """The node's outgoing edges, as {field path: target node id}."""
        return {path: target for path, target in written_values(self, self.edge_fields) if target is not None}


def written_values(node: dict | BaseModel, paths: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(path, value) of each of `paths` in a node, parsed or as written (then values may be of
    any type, or None where missing); "*" expands to every item of a list."""
    found: list[tuple[str, Any]] = []
    for path in paths:
        found += _walk(node, path.split("."), [])
    return found


def _walk(value: Any, parts: list[str], at: list[str]) -> list[tuple[str, Any]]:
    if not parts:
        return [(".".join(at), value)]
    head, rest = parts[0], parts[1:]
    if head == "*":
        items = value if isinstance(value, (list, tuple)) else []
        return [found for index, item in enumerate(items) for found in _walk(item, rest, [*at, str(index)])]
    return _walk(_field(value, head), rest, [*at, head])


def _field(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return value.get(name)
    if isinstance(value, BaseModel):
        fields = type(value).model_fields.items()
        return getattr(value, next((attr for attr, field in fields if (field.alias or attr) == name), name), None)
    return None


# `at: best_time`: the send (or the wait's end) comes at the contact's best hour of day, the first
# within `within` of reaching the node (sojourn.services.best_send_time).
BEST_TIME = "best_time"
BEST_TIME_WINDOW = (timedelta(hours=1), timedelta(days=7))
DEFAULT_BEST_TIME_WINDOW = "24h"


def _checked_wait_at(text: str) -> str:
    if text != BEST_TIME:
        try:
            parse_local_time(text)
        except ValueError as err:
            raise ValueError(f"{err}, or `{BEST_TIME}`") from None
    return text


WaitAt = Annotated[str, AfterValidator(_checked_wait_at)]


def _best_time_window(at: str | None, within: str | None) -> None:
    if within is None:
        return
    if at != BEST_TIME:
        raise ValueError(f"`within` goes with `at: {BEST_TIME}`")
    low, high = BEST_TIME_WINDOW
    if not low <= parse_duration(within) <= high:
        raise ValueError(f"`within` must be from 1h to 7d (got {within!r})")


class SendNode(ChannelContents, _Node):
    """Send one message on the first channel listed that the contact can receive.

    Email's content is `subject`, `html` and `text`; the other channels' is in the field
    named after them (`ChannelContents`, one per channel spec). Every string is a Jinja2 template.
    """

    type: Literal["send"]
    channel: Channel | Annotated[list[Channel], Field(min_length=1)] = "email"
    subject: Annotated[str, Field(min_length=1)] | None = None
    html: str | None = None
    text: str | None = None
    from_: Annotated[str | None, Field(alias="from")] = None
    track: StrictBool = True
    # Transactional messages (a receipt, a password reset) skip marketing consent, quiet hours
    # and frequency caps; never suppression.
    transactional: StrictBool = False
    when_quiet: Literal["defer", "skip"] = "defer"  # inside quiet hours: wait for their end, or drop it
    when_capped: Literal["defer", "skip"] = "defer"  # over a frequency cap: wait for room, or drop it
    at: Literal["best_time"] | None = None
    within: Duration | None = None  # with `at: best_time`; DEFAULT_BEST_TIME_WINDOW when left out
    next: str
    on_failure: str | None = None  # where a run goes when the message failed for good; else `next`

    edge_fields = ("next", "on_failure")

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

    @property
    def best_time_window(self) -> str:
        return self.within or DEFAULT_BEST_TIME_WINDOW

    @model_validator(mode="after")
    def _best_time(self) -> SendNode:
        _best_time_window(self.at, self.within)
        if self.at == BEST_TIME and self.transactional:
            raise ValueError(f"a transactional message goes at once: `at: {BEST_TIME}` is for marketing sends")
        return self

    @model_validator(mode="after")
    def _content_present(self) -> SendNode:
        channels = self.channels
        if len(set(channels)) != len(channels):
            raise ValueError("a channel is listed twice")
        for system in SYSTEM_CHANNELS:
            if system in channels and len(channels) > 1:
                raise ValueError(f"`{system}` calls a system, not a person: it cannot be a fallback of other channels")
        if "email" in channels:
            if self.subject is None:
                raise ValueError("an email needs a `subject`")
            if self.text is None and self.html is None:
                raise ValueError("a send node needs `html`, `text` or both")
        # Every other channel's content is in the field named after it.
        for channel in CONTENT_CHANNELS:
            if channel in channels and getattr(self, channel) is None:
                raise ValueError(f"channel {channel!r} needs its content in `{channel}`")
        return self


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class WaitNode(_Node):
    """Sleep for a `duration`, `until` an absolute datetime with a time zone, until a local
    time of day `at` (on one of `weekdays`) in the contact's time zone (else the journey's,
    else the brand's), or until the contact's best hour `within` a window (`at: best_time`)."""

    type: Literal["wait"]
    duration: Duration | None = None
    until: datetime | None = None
    at: WaitAt | None = None
    within: Duration | None = None  # with `at: best_time`; DEFAULT_BEST_TIME_WINDOW when left out
    weekdays: Annotated[list[Weekday], Field(min_length=1)] | None = None
    # "event": the duration counts from the triggering event's own timestamp, not from arrival here.
    relative_to: Literal["node", "event"] = "node"
    # An event-relative wait already over by more than this when the run reaches it is late: the
    # run goes to `on_late`, or else skips the send right after (a 2-hour aftercare is not sent
    # when the treatment event arrives 8 days late).
    max_lateness: Duration | None = None
    on_late: str | None = None
    next: str

    edge_fields = ("next", "on_late")
    rests = True
    DEFAULT_MAX_LATENESS: ClassVar[str] = "1d"

    @property
    def best_time_window(self) -> str:
        return self.within or DEFAULT_BEST_TIME_WINDOW

    @property
    def lateness_allowed(self) -> timedelta:
        return parse_duration(self.max_lateness or self.DEFAULT_MAX_LATENESS)

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
        if self.weekdays is not None and self.at in (None, BEST_TIME):
            raise ValueError("`weekdays` goes with `at` and a time of day")
        _best_time_window(self.at, self.within)
        if self.relative_to == "event" and self.duration is None:
            raise ValueError("`relative_to: event` goes with a `duration`")
        if self.relative_to != "event" and (self.max_lateness is not None or self.on_late is not None):
            raise ValueError("`max_lateness` and `on_late` go with `relative_to: event`")
        return self


class WaitForNode(_Node):
    """Wait until the contact engages with an earlier send or performs an event, or until `timeout`."""

    type: Literal["wait_for"]
    event: WaitCondition
    timeout: Duration
    on_event: str
    on_timeout: str

    edge_fields = ("on_event", "on_timeout")
    condition_fields = ("event",)
    rests = True


class Case(Strict):
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

    edge_fields = ("then", "else", "cases.*.then", "default")
    condition_fields = ("condition", "cases.*.when")

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


class TagNode(_Node):
    """Change one of the contact's tags: `add` (or set) it with `weight`, `increment` it by
    `weight` (from 0 if absent), or `remove` it. Segments and branches read tag weights."""

    type: Literal["tag"]
    tag: Annotated[str, Field(min_length=1, max_length=100)]
    action: Literal["add", "increment", "remove"] = "add"
    weight: float = 1.0
    next: str

    edge_fields = ("next",)


class Arm(Strict):
    id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
    weight: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    next: str


class Winner(Strict):
    """Once `after` has passed since the split's first contact, or `sample` contacts took it, the
    arm with the best `metric` (the share of its contacts that converted) takes every new contact."""

    metric: Literal["converted"] = "converted"
    after: Duration | None = None
    sample: Annotated[int, Field(ge=1, strict=True)] | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> Winner:
        if (self.after is None) == (self.sample is None):
            raise ValueError("a winner is decided `after` a duration or at a `sample` size: give one of them")
        return self


class SplitNode(_Node):
    """Send each contact down one of `arms`, drawn by weight once per contact, journey and node
    (`sojourn.dsl.experiments`) and recorded: the same contact takes the same arm on re-entry and
    on a new version. The step's way out is the arm's id. A `winner` rule sends new contacts to
    the best arm once decided; `allocation: thompson` draws each new contact's arm from the arms'
    conversion so far (Thompson sampling) instead of the weights."""

    type: Literal["split"]
    arms: list[Arm]
    winner: Winner | None = None
    allocation: Literal["weights", "thompson"] = "weights"

    edge_fields = ("arms.*.next",)

    @field_validator("arms")
    @classmethod
    def _distinct_arms(cls, arms: list[Arm]) -> list[Arm]:
        if len(arms) < 2:
            raise ValueError(f"a split needs at least 2 arms; got {len(arms)}")
        ids = [arm.id for arm in arms]
        repeated = sorted({arm for arm in ids if ids.count(arm) > 1})
        if repeated:
            raise ValueError(f"arm ids must be unique; {', '.join(map(repr, repeated))} repeated")
        return arms

    @model_validator(mode="after")
    def _one_way_to_choose(self) -> SplitNode:
        if self.winner is not None and self.allocation == "thompson":
            raise ValueError("`winner` and `allocation: thompson` are two ways to favour an arm: use one")
        return self

    def weights(self) -> list[tuple[str, float]]:
        return [(arm.id, arm.weight) for arm in self.arms]

    def target(self, arm_id: str) -> str:
        return next(arm.next for arm in self.arms if arm.id == arm_id)


class ExitNode(_Node):
    type: Literal["exit"]


AnyNode = SendNode | WaitNode | WaitForNode | BranchNode | SplitNode | TagNode | ExitNode
Node = Annotated[AnyNode, Field(discriminator="type")]

# Node classes by the `type` an author writes.
NODE_TYPES: dict[str, type[AnyNode]] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(AnyNode)
}
