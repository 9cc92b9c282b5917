"""Journeys and their immutable versions, status changes (with their schedules), and enrolling contacts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from sojourn.contracts import search_attributes as sa
from sojourn.contracts.journey import EVENT_SIGNAL, ContactEvent, JourneyInput, journey_workflow_id
from sojourn.data.models import Contact, Journey, JourneyRun, JourneyVersion, utcnow
from sojourn.delivery.allow_list import unlisted_webhook_hosts
from sojourn.dsl.definition import JourneyDefinition, Reentry
from sojourn.dsl.durations import parse_duration
from sojourn.dsl.validation import DefinitionError, Problem, validate_definition
from sojourn.errors import Conflict, NotFound
from sojourn.services import schedules
from sojourn.services.pagination import keyset_page

if TYPE_CHECKING:
    from sojourn.services.triggers import Triggers

# Allowed status changes; `archived` is final.
TRANSITIONS = {
    "activate": ({"draft", "paused"}, "active"),
    "pause": ({"active"}, "paused"),
    "archive": ({"draft", "active", "paused"}, "archived"),
}

START_CONCURRENCY = 50


class JourneyConflict(Conflict):
    pass


class JourneyNotFound(NotFound):
    pass


async def get_journey(session: AsyncSession, journey_id: str) -> Journey:
    journey = await session.get(Journey, journey_id)
    if journey is None:
        raise JourneyNotFound(f"journey '{journey_id}' not found")
    return journey


async def get_version(session: AsyncSession, journey_id: str, version: int) -> JourneyVersion:
    row = (await session.execute(select(JourneyVersion).where(
        JourneyVersion.journey_id == journey_id, JourneyVersion.version == version))).scalar_one_or_none()
    if row is None:
        raise JourneyNotFound(f"journey '{journey_id} version {version}' not found")
    return row


# Checking runs templates: in a thread, so that the API answers meanwhile, and waited for this long.
VALIDATION_SECONDS = 30.0


async def _validated(raw_definition: dict, webhook_hosts: list[str] | None) -> JourneyDefinition:
    """The parsed definition, or DefinitionError; with `webhook_hosts`, a webhook the workers
    would refuse to call is refused now too, where its author sees it."""
    try:
        definition = await asyncio.wait_for(asyncio.to_thread(validate_definition, raw_definition),
                                            VALIDATION_SECONDS)
    except TimeoutError:
        raise DefinitionError([Problem(node=None, field="", message=(
            f"journey: checking the definition takes longer than {VALIDATION_SECONDS:g} s; "
            "make its templates simpler or fewer"))]) from None
    unlisted = unlisted_webhook_hosts(definition, webhook_hosts) if webhook_hosts is not None else []
    if unlisted:
        raise DefinitionError([Problem(node=node, field="webhook.url", message=(
            f"node {node!r} field 'webhook.url': host {host!r} is not in WEBHOOK_ALLOWED_HOSTS"))
            for node, host in unlisted])
    return definition


async def create_journey(session: AsyncSession, journey_id: str, raw_definition: dict,
                         webhook_hosts: list[str] | None = None) -> Journey:
    definition = await _validated(raw_definition, webhook_hosts)
    if await session.get(Journey, journey_id) is not None:
        raise JourneyConflict(f"journey '{journey_id}' already exists; update it with PUT to add a version")
    journey = Journey(id=journey_id, name=definition.name, status="draft", latest_version=1)
    session.add(journey)
    await session.flush()
    session.add(JourneyVersion(journey_id=journey_id, version=1, definition=_stored(definition)))
    await session.commit()
    return journey


async def add_version(session: AsyncSession, journey_id: str, raw_definition: dict,
                      webhook_hosts: list[str] | None = None) -> Journey:
    definition = await _validated(raw_definition, webhook_hosts)
    journey = await get_journey(session, journey_id)
    if journey.status == "archived":
        raise JourneyConflict(f"journey '{journey_id}' is archived and cannot change")
    # Row lock: two concurrent updates must not both claim the same version number.
    await session.refresh(journey, with_for_update=True)
    journey.latest_version += 1
    journey.name = definition.name
    journey.updated_at = utcnow()
    session.add(JourneyVersion(journey_id=journey_id, version=journey.latest_version, definition=_stored(definition)))
    await session.commit()
    return journey


async def change_status(session: AsyncSession, journey_id: str, action: str) -> Journey:
    journey = await get_journey(session, journey_id)
    allowed_from, target = TRANSITIONS[action]
    if journey.status == target:
        return journey
    if journey.status not in allowed_from:
        raise JourneyConflict(f"cannot {action} a journey that is {journey.status}")
    journey.status = target
    journey.updated_at = utcnow()
    await session.commit()
    return journey


async def create(session: AsyncSession, triggers: Triggers, journey_id: str, raw_definition: dict,
                 webhook_hosts: list[str] | None) -> tuple[Journey, dict]:
    """Create a draft journey with its definition as version 1; the journey and that definition."""
    journey = await create_journey(session, journey_id, raw_definition, webhook_hosts)
    triggers.invalidate()
    return journey, (await get_version(session, journey.id, 1)).definition


async def update(session: AsyncSession, client: Client, triggers: Triggers, task_queue: str, journey_id: str,
                 raw_definition: dict, webhook_hosts: list[str] | None) -> tuple[Journey, dict]:
    """Store a new version, and keep the journey's schedule in step; the journey and the new definition."""
    journey = await add_version(session, journey_id, raw_definition, webhook_hosts)
    triggers.invalidate()
    await schedules.sync(client, journey_id, journey.status, JourneyDefinition.model_validate(raw_definition),
                         task_queue, version_changed=True)
    return journey, (await get_version(session, journey_id, journey.latest_version)).definition


async def change(session: AsyncSession, client: Client, triggers: Triggers, task_queue: str, journey_id: str,
                 action: str) -> tuple[Journey, dict]:
    """Activate, pause or archive, and keep the journey's schedule in step; the journey and its latest definition."""
    journey = await change_status(session, journey_id, action)
    triggers.invalidate()
    definition = (await get_version(session, journey_id, journey.latest_version)).definition
    await schedules.sync(client, journey_id, journey.status, JourneyDefinition.model_validate(definition), task_queue)
    return journey, definition


async def latest(session: AsyncSession, journey_id: str) -> tuple[Journey, dict]:
    """The journey and its latest definition."""
    journey = await get_journey(session, journey_id)
    return journey, (await get_version(session, journey_id, journey.latest_version)).definition


async def page(session: AsyncSession, limit: int, cursor: str | None) -> dict:
    return await keyset_page(session, select(Journey), Journey.id, limit, cursor)


def _stored(definition) -> dict:
    return definition.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass
class Enrollment:
    contact: str
    status: str  # started | existing | not_found | failed
    workflow_id: str | None = None
    run_id: str | None = None
    version: int | None = None
    error: str | None = None
    key: str | None = None


async def enroll(session: AsyncSession, client: Client, task_queue: str, journey_id: str,
                 external_ids: list[str]) -> tuple[int, list[Enrollment]]:
    """Start one run per contact; a contact already in the journey keeps its run (and its version)."""
    journey = await get_journey(session, journey_id)
    if journey.status != "active":
        raise JourneyConflict(f"journey '{journey_id}' is {journey.status}; activate it before enrolling")
    version = await get_version(session, journey_id, journey.latest_version)
    wanted = list(dict.fromkeys(external_ids))
    contacts = {c.external_id: c for c in (await session.execute(
        select(Contact).where(Contact.external_id.in_(wanted)))).scalars()}
    # A `never` journey's entries that a batched send delivered have no workflow whose id would
    # refuse a second run (under the other rules a finished run may be followed anyway).
    reentry = JourneyDefinition.model_validate(version.definition).reentry
    batched = set() if reentry.policy != "never" else await kept_out(
        session, journey_id, reentry, [c.id for c in contacts.values()], None, JourneyRun.batch.is_not(None))
    startable = [contacts[ext] for ext in wanted if ext in contacts and contacts[ext].id not in batched]
    started = {r.contact: r for r in await start_runs(session, client, task_queue, journey_id, version, startable)}

    def outcome(ext: str) -> Enrollment:
        if ext not in contacts:
            return Enrollment(contact=ext, status="not_found", error="no contact with this external id")
        if contacts[ext].id in batched:
            return Enrollment(ext, "existing", journey_workflow_id(journey_id, ext), None, version.version)
        return started[ext]

    return version.version, [outcome(ext) for ext in wanted]


async def start_runs(session: AsyncSession, client: Client, task_queue: str, journey_id: str,
                     version: JourneyVersion, contacts: list[Contact], key: str | None = None,
                     batch: str | None = None, progress: Callable[[int], None] | None = None) -> list[Enrollment]:
    """Start (or find) each contact's run, START_CONCURRENCY at a time, and record the new ones;
    `progress` hears how many are done after each."""
    gate = asyncio.Semaphore(START_CONCURRENCY)
    done = 0

    async def one(contact: Contact) -> Enrollment:
        nonlocal done
        async with gate:
            result = await start_run(client, task_queue, journey_id, version.version, version.definition, contact,
                                     key=key, batch=batch)
        done += 1
        if progress is not None:
            progress(done)
        return result

    results = list(await asyncio.gather(*(one(contact) for contact in contacts)))
    await record_runs(session, journey_id, [r for r in results if r.run_id], {c.external_id: c for c in contacts})
    return results


_REUSE = {
    "never": WorkflowIDReusePolicy.REJECT_DUPLICATE,
    "after_exit": WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    "always": WorkflowIDReusePolicy.ALLOW_DUPLICATE,
}


async def start_run(client: Client, task_queue: str, journey_id: str, version: int, definition: dict,
                    contact: Contact, key: str | None = None, trigger: ContactEvent | None = None,
                    batch: str | None = None) -> Enrollment:
    """Start the contact's run, or find the one already running under its workflow id.

    At most one run is active per (journey, contact, key); whether a finished one may be
    followed by another is the journey's re-entry policy. A triggering event also reaches
    a run that is already active, as an event.
    """
    wf_id = journey_workflow_id(journey_id, contact.external_id, key)
    policy = definition.get("reentry", {}).get("policy", "never")
    options = dict(
        id=wf_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=_REUSE[policy],
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.JOURNEY_ID, journey_id),
            SearchAttributePair(sa.JOURNEY_VERSION, version),
            SearchAttributePair(sa.CONTACT_ID, contact.external_id),
            SearchAttributePair(sa.JOURNEY_STATUS, "active"),
        ]),
    )
    if trigger is not None:
        options.update(start_signal=EVENT_SIGNAL, start_signal_args=[trigger])
    try:
        handle = await client.start_workflow(
            "JourneyWorkflow",
            JourneyInput(journey_id=journey_id, version=version, contact_id=contact.id,
                         contact_external_id=contact.external_id, definition=definition, trigger=trigger, key=key,
                         batch=batch),
            **options,
        )
    except WorkflowAlreadyStartedError as err:
        return Enrollment(contact.external_id, "existing", wf_id, err.run_id, None, key=key)
    except Exception as err:  # reported per contact; the others still enroll
        return Enrollment(contact.external_id, "failed", wf_id, None, version, error=str(err), key=key)
    run_id = handle.first_execution_run_id or handle.result_run_id
    return Enrollment(contact.external_id, "started", wf_id, run_id, version, key=key)


async def record_runs(session: AsyncSession, journey_id: str, results: list[Enrollment],
                      contacts: dict[str, Contact]) -> None:
    """Record new runs by Temporal run id; a run id already recorded means the contact
    was enrolled before (start returned the running workflow), so it is `existing`."""
    if not results:
        return
    rows = [dict(run_id=r.run_id, workflow_id=r.workflow_id, journey_id=journey_id, version=r.version,
                 contact_id=contacts[r.contact].id, key=r.key) for r in results if r.version is not None]
    inserted = set()
    if rows:
        inserted = set((await session.execute(insert(JourneyRun).values(rows).on_conflict_do_nothing()
                                              .returning(JourneyRun.run_id))).scalars())
    known = {row.run_id: row.version for row in (await session.execute(
        select(JourneyRun).where(JourneyRun.run_id.in_([r.run_id for r in results])))).scalars()}
    await session.commit()
    for result in results:
        if result.run_id not in inserted:
            result.status = "existing"
            result.version = known.get(result.run_id, result.version)


async def cooling_down(session: AsyncSession, journey_id: str, reentry: Reentry, contact_ids: list[int],
                       key: str | None = None) -> set[int]:
    """Contacts whose last run of the journey (under `key`) began less than the `always`
    policy's cooldown ago; the rest of the re-entry rule is the workflow id reuse policy."""
    if reentry.policy != "always" or reentry.cooldown is None or not contact_ids:
        return set()
    return await _contacts_with_runs(session, journey_id, contact_ids, key, _cooling(reentry))


async def kept_out(session: AsyncSession, journey_id: str, reentry: Reentry, contact_ids: list[int],
                   key: str | None, counted) -> set[int]:
    """Contacts the re-entry rule keeps out where no workflow id reuse policy does it: any
    earlier run under a key or with `never`, a run still active otherwise, and the `always`
    cooldown. `counted` says which earlier runs count: a batch leaves out its own rows (its
    retried page resends nothing, the message keys see to that, but must leave nobody out)."""
    if not contact_ids:
        return set()
    earlier = counted
    if key is None and reentry.policy != "never":
        blocking = JourneyRun.status == "active"
        if reentry.policy == "always" and reentry.cooldown is not None:
            blocking = or_(blocking, _cooling(reentry))
        earlier = and_(earlier, blocking)
    return await _contacts_with_runs(session, journey_id, contact_ids, key, earlier)


def _cooling(reentry: Reentry):
    """Runs that began within the `always` policy's cooldown."""
    return JourneyRun.enrolled_at > utcnow() - parse_duration(reentry.cooldown)


async def _contacts_with_runs(session: AsyncSession, journey_id: str, contact_ids: list[int], key: str | None,
                              condition) -> set[int]:
    rows = await session.execute(
        select(JourneyRun.contact_id).where(
            JourneyRun.journey_id == journey_id, JourneyRun.contact_id.in_(contact_ids),
            JourneyRun.key.is_(None) if key is None else JourneyRun.key == key, condition)
        .distinct())
    return set(rows.scalars())
