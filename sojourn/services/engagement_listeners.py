"""Which opens and clicks a journey's runs react to, so that only those are signalled.

A run decides on engagement only where its definition says so: a `wait_for` or a `branch`
condition `{opened: node}` or `{clicked: node}` (`workflows/node_handlers.py`, `_holds`). Filters
on engagement (`{engagement: opened, ...}`), goals and exits are answered from the database or
from events, never from the run's signals. So whether a run needs to hear of an open or click
is known from its version's definition alone, before any run exists: decided once per journey
version (versions never change) and kept in memory, so storing an engagement costs no look-up.

An open or click of a message no run listens for is still stored and counted everywhere it is
reported (profiles, funnels, segments); only the Temporal signal, which would change nothing,
is left out.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from pydantic import ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from sojourn.data.models import JourneyVersion
from sojourn.dsl.conditions import EngagementCondition
from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.nodes import written_values

log = logging.getLogger(__name__)

# send node id -> the engagement kinds with it that some condition of the version decides on
Heard = dict[str, frozenset[str]]
# A version whose definition cannot be read (or does not exist): every open and click is signalled,
# as before this was decided, rather than risk a run missing one it waits for.
EVERYTHING = None

_VERSIONS = 1024  # versions remembered per process; a miss costs one query
_heard: OrderedDict[tuple[str, int], Heard | None] = OrderedDict()
_DEFINITION = select(JourneyVersion.definition).where(
    JourneyVersion.journey_id == bindparam("journey_id"), JourneyVersion.version == bindparam("version"))


def heard(definition: JourneyDefinition) -> Heard:
    """The engagement each send node's runs react to. A condition on an open also holds on a
    click (a click proves the mail was opened even when its pixel was blocked), so it hears both."""
    found: dict[str, set[str]] = {}
    for node in definition.nodes:
        for _, condition in written_values(node, type(node).condition_fields):
            if isinstance(condition, EngagementCondition):
                kinds = {"opened", "clicked"} if condition.kind == "opened" else {"clicked"}
                found.setdefault(condition.send_node, set()).update(kinds)
    return {node: frozenset(kinds) for node, kinds in found.items()}


async def listens(session: AsyncSession | AsyncConnection, journey_id: str, version: int, send_node: str, kind: str) -> bool:
    """Whether a run of this journey version reacts to `kind` on a message of `send_node`."""
    key = (journey_id, version)
    if key in _heard:
        _heard.move_to_end(key)
        kinds = _heard[key]
    else:
        kinds = await _read(session, journey_id, version)
        _heard[key] = kinds
        if len(_heard) > _VERSIONS:
            _heard.popitem(last=False)
    return kinds is EVERYTHING or kind in kinds.get(send_node, ())


async def _read(session: AsyncSession | AsyncConnection, journey_id: str, version: int) -> Heard | None:
    raw = (await session.execute(_DEFINITION, {"journey_id": journey_id, "version": version})).scalar_one_or_none()
    if raw is None:
        return EVERYTHING
    try:
        return heard(JourneyDefinition.model_validate(raw))
    except ValidationError:
        log.warning("journey %s version %s does not parse; every open and click of it is signalled",
                    journey_id, version, extra={"journey_id": journey_id})
        return EVERYTHING
