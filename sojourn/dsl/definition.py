"""A whole journey: its nodes, how contacts enter and leave, its goal and send windows.

Pure and workflow-safe (the standard library and pydantic only): the journey workflow
passes it through the sandbox. Graph and template rules live in `sojourn.dsl.validation`,
which workflows do not import.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from sojourn.dsl.conditions import EventCondition
from sojourn.dsl.durations import Duration
from sojourn.dsl.filters import PropertyCondition
from sojourn.dsl.nodes import AnyNode, ExitNode, Node, SendNode, WaitForNode, Weekday
from sojourn.dsl.send_windows import LocalTime, TimeZoneName
from sojourn.dsl.strict import Strict


class Calendar(Strict):
    """Local time `at` (HH:MM) on the listed `weekdays`, `days` of the month and `months`;
    one left out means every one."""

    at: LocalTime
    weekdays: Annotated[list[Weekday], Field(min_length=1)] | None = None
    days: Annotated[list[Annotated[int, Field(ge=1, le=31)]], Field(min_length=1)] | None = None
    months: Annotated[list[Annotated[int, Field(ge=1, le=12)]], Field(min_length=1)] | None = None


class Schedule(Strict):
    """When a scheduled journey fires, in `time_zone`: a `cron` expression (minute hour day
    month weekday), or a `calendar` ({at: "11:00", weekdays: [wed]})."""

    # Checked as Temporal checks it when a definition is saved (`sojourn.dsl.validation.rules`),
    # not here: a version stored before that check must still be read.
    cron: str | None = None
    calendar: Calendar | None = None
    time_zone: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _one_spec(self) -> Schedule:
        if (self.cron is None) == (self.calendar is None):
            raise ValueError("a schedule is either a `cron` expression or a `calendar`")
        return self


class Entry(Strict):
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


class Reentry(Strict):
    """`never` (default): once per contact; `after_exit`: again once the last run ended;
    `always`: again once the last run ended and `cooldown` has passed since it began."""

    policy: Literal["never", "after_exit", "always"] = "never"
    cooldown: Duration | None = None


_PROPERTY_PATH = re.compile(r"properties(\.[A-Za-z_][A-Za-z0-9_-]*)+")


class Goal(EventCondition):
    """The event that counts as a conversion when it comes `within` the run's start; ends the run if `exit`.
    `value` names the event property that is the conversion's revenue (`properties.amount`)."""

    within: Duration | None = None
    exit: StrictBool = True
    value: Annotated[str, Field(max_length=200)] | None = None

    @field_validator("value")
    @classmethod
    def _a_property(cls, value: str | None) -> str | None:
        if value is not None and not _PROPERTY_PATH.fullmatch(value):
            raise ValueError(f"goal `value` names a property of the goal event, like properties.amount; got {value!r}")
        return value

    def value_of(self, properties: dict) -> float | None:
        """The revenue an event carries at `value`; None when it names nothing or not a number."""
        if self.value is None:
            return None
        found: object = properties
        for key in self.value.split(".")[1:]:
            found = found.get(key) if isinstance(found, dict) else None
        if isinstance(found, bool) or not isinstance(found, int | float):
            return None
        return float(found)


class QuietHours(Strict):
    """Local times (the contact's zone) between which no marketing message goes out; may span midnight."""

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours need different `start` and `end`")
        return self


class Budget(Strict):
    """What the journey's marketing messages may cost, in the brand's currency (`USAGE_CURRENCY`),
    per calendar month (UTC) or over its whole life; transactional messages are never held by it."""

    amount: Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
    period: Literal["month", "total"]


class Holdout(Strict):
    """A stable `percent` of the journey's entrants (by contact and journey) gets none of its
    messages, transactional ones aside, yet runs and converts as the others: the control group."""

    percent: Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]


class JourneyDefinition(Strict):
    """A whole journey: its nodes, and the node it starts at (the first by default)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str | None = None
    time_zone: TimeZoneName | None = None  # for contacts without one; else the brand's
    quiet_hours: QuietHours | None = None  # replaces the brand's QUIET_HOURS for this journey
    priority: int = 0  # when a frequency cap leaves room for one message, the higher priority goes
    budget: Budget | None = None  # past it, marketing sends are skipped
    holdout: Holdout | None = None
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

    def node_map(self) -> dict[str, AnyNode]:
        return {node.id: node for node in self.nodes}

    def single_send(self) -> SendNode | None:
        """The send node, when the journey is only that: it starts at a send whose every way
        out is an exit. Such a journey can go out in batches, with no run per contact; not one
        that sends at each contact's best time (`at`), which a run per contact waits for."""
        nodes = self.node_map()
        first = nodes[self.start_id]
        if isinstance(first, SendNode) and first.at is None and all(isinstance(nodes[target], ExitNode) for target in first.edges().values()):
            return first
        return None


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
