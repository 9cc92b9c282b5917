"""The nightly model steps, in the order they run, and how one runs for a day.

Each step is a service function `score_<x>(engine, as_of, settings) -> ModelRun`, idempotent for
its `as_of`. They are named here by module path and imported only when they run, so neither the
API nor the worker loads scikit-learn at startup. Adding a step is one line in STEPS."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.contracts.models import ModelRun
from sojourn.data.tag_rules import end_of_day
from sojourn.errors import Invalid
from sojourn.settings import Settings

ScoreStep = Callable[[AsyncEngine, datetime, Settings], Awaitable[ModelRun]]

# step name -> "module:function", in the order the nightly run takes them.
STEPS: dict[str, str] = {
    "ltv": "sojourn.services.lifetime_value:score_lifetime_value",
    "affinity": "sojourn.services.affinity:score_affinity",
    "propensity": "sojourn.services.propensity:score_propensity",
    "churn": "sojourn.services.propensity:score_churn",
    "recommendations": "sojourn.services.recommendations:score_recommendations",
    "send_time": "sojourn.services.send_time:score_send_time",
}


class UnknownStep(Invalid):
    def __init__(self, names: list[str]) -> None:
        super().__init__(f"no model step named {', '.join(map(repr, names))}; the steps are {', '.join(STEPS)}")


def planned(steps: list[str] | None) -> list[str]:
    """The steps a run takes: `steps` (checked, in the nightly order) or every step."""
    if steps is None:
        return list(STEPS)
    unknown = [name for name in steps if name not in STEPS]
    if unknown:
        raise UnknownStep(unknown)
    return [name for name in STEPS if name in steps]


async def run_step(engine: AsyncEngine, settings: Settings, name: str, day: date) -> ModelRun:
    """Step `name` fitted on the data up to the end of `day` in the brand's time zone."""
    [step] = planned([name])
    module, function = STEPS[step].split(":")
    score: ScoreStep = getattr(importlib.import_module(module), function)
    return await score(engine, end_of_day(day, settings.brand_time_zone), settings)


# Where a running step reports how far it is: the activity running it sends the latest report
# with each heartbeat (and `GET /v1/models/runs` shows it). Outside an activity, reports go nowhere.
_progress: ContextVar[dict[str, Any] | None] = ContextVar("model_step_progress", default=None)


def report_progress(**details: Any) -> None:
    """Tell whoever runs this step how far it is (`chunk=3, chunks=10`...): JSON-able values."""
    current = _progress.get()
    if current is not None:
        current.clear()
        current.update(details)


def listen_for_progress() -> dict[str, Any]:
    """A dict that the step run in this context (or a task started from it) keeps up to date."""
    details: dict[str, Any] = {}
    _progress.set(details)
    return details
