"""A journey definition checked before it is stored: the journey language's rules, and what it
names outside itself (segments in the database, webhook hosts in the settings), every problem
in one DefinitionError so one answer lists them all."""

from __future__ import annotations

import asyncio
import re

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.models import Segment
from sojourn.delivery.allow_list import WebhookPolicy, url_problem
from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.filters import SEGMENT_ID_MAX, SEGMENT_ID_PATTERN
from sojourn.dsl.validation import (
    DefinitionError,
    Problem,
    problem,
    segment_references,
    validate_definition,
    webhook_urls,
)

# How long the API waits for a definition's checks (each template's are bounded on their own).
VALIDATION_SECONDS = 30.0


async def checked_definition(session: AsyncSession, raw_definition: dict,
                             webhook_policy: WebhookPolicy | None) -> JourneyDefinition:
    """The parsed definition, or DefinitionError listing every problem in one pass: the journey
    language's, segments that do not exist, and (with `webhook_policy`) webhooks the workers would
    refuse to call, refused now where their author sees it."""
    found: list[Problem] = []
    definition = None
    try:
        # Checking runs templates: in a thread, so that the API answers meanwhile.
        definition = await asyncio.wait_for(asyncio.to_thread(validate_definition, raw_definition),
                                            VALIDATION_SECONDS)
    except DefinitionError as error:
        found += error.problems
    except TimeoutError:
        found.append(problem(None, "", f"checking the definition takes longer than {VALIDATION_SECONDS:g} s; "
                                       "make its templates simpler or fewer"))
    if isinstance(raw_definition, dict):
        found += await _missing_segments(session, raw_definition)
        if webhook_policy is not None:
            found += _unlisted_webhooks(raw_definition, webhook_policy)
    if found:
        raise DefinitionError(found)
    return definition


_SEGMENT_ID = re.compile(SEGMENT_ID_PATTERN)


async def _missing_segments(session: AsyncSession, raw_definition: dict) -> list[Problem]:
    references = segment_references(raw_definition)
    # Only a name a segment could have is looked up (a NUL would not even reach Postgres).
    names = sorted({name for _, _, name in references
                    if _SEGMENT_ID.fullmatch(name) and len(name) <= SEGMENT_ID_MAX})
    existing = set((await session.execute(select(Segment.id).where(Segment.id.in_(names))))
                   .scalars()) if names else set()
    return [problem(node, field, f"segment {name!r} does not exist; create it first (POST /v1/segments)")
            for node, field, name in references if name not in existing]


def _unlisted_webhooks(raw_definition: dict, webhook_policy: WebhookPolicy) -> list[Problem]:
    found = []
    for node, field, url in webhook_urls(raw_definition):
        try:
            refused = url_problem(url, webhook_policy)
            if refused is not None:
                found.append(problem(node, field, refused))
        except httpx.InvalidURL as error:
            found.append(problem(node, field, f"is not a valid URL: {error}"))
    return found
