"""Journeys and their immutable versions, status changes (with their schedules), and enrolling contacts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
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
from sojourn.contracts.contact_enrollment import ContactResult
from sojourn.contracts.journey import EVENT_SIGNAL, PATCHES_AT_START, ContactEvent, JourneyInput, journey_workflow_id
from sojourn.data import audit
from sojourn.data.models import Contact, Journey, JourneyRun, JourneyVersion, utcnow
from sojourn.data.steps import align_steps
from sojourn.delivery.allow_list import WebhookPolicy
from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.nodes import SendNode
from sojourn.errors import Conflict, Invalid, NotFound, SojournError
from sojourn.services import schedules
from sojourn.services.journey_checks import checked_definition
from sojourn.services.pagination import keyset_page
from sojourn.services.payload_codec import prepare_keys
from sojourn.services.reentry import admit, reentry_of

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


class NotASendNode(Invalid):
    code = "not_a_send_node"


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


async def chosen_version(session: AsyncSession, journey_id: str, version: int | None) -> JourneyVersion:
    """`version` of the journey, or its latest: what a preview, a test send or a simulation takes."""
    return await get_version(session, journey_id, version or (await get_journey(session, journey_id)).latest_version)


async def send_node(session: AsyncSession, journey_id: str, version: int | None, node_id: str) -> tuple[int, SendNode]:
    """The version taken (see `chosen_version`) and its send node `node_id`."""
    row = await chosen_version(session, journey_id, version)
    node = JourneyDefinition.model_validate(row.definition).node_map().get(node_id)
    if not isinstance(node, SendNode):
        raise NotASendNode(f"version {row.version} of '{journey_id}' has no send node '{node_id}'")
    return row.version, node


async def create_journey(session: AsyncSession, journey_id: str, raw_definition: dict,
                         webhook_policy: WebhookPolicy | None = None, *, actor: str = audit.SYSTEM) -> Journey:
    definition = await checked_definition(session, raw_definition, webhook_policy)
    if await session.get(Journey, journey_id) is not None:
        raise JourneyConflict(f"journey '{journey_id}' already exists; update it with PUT to add a version")
    journey = Journey(id=journey_id, name=definition.name, status="draft", latest_version=1)
    session.add(journey)
    await session.flush()
    session.add(JourneyVersion(journey_id=journey_id, version=1, definition=_stored(definition)))
    audit.record(session, actor, "created", "journey", journey_id, version=1, name=definition.name)
    await session.commit()
    return journey


# Brings what Temporal keeps for a journey (its schedule) in step with a status and a definition.
InStep = Callable[[str, JourneyDefinition], Awaitable[None]]


async def add_version(session: AsyncSession, journey_id: str, raw_definition: dict,
                      webhook_policy: WebhookPolicy | None = None, in_step: InStep | None = None, *,
                      actor: str = audit.SYSTEM) -> Journey:
    """Store the definition as the journey's next version; with `in_step`, only once the
    journey's schedule has been brought in step with it."""
    definition = await checked_definition(session, raw_definition, webhook_policy)
    journey = await get_journey(session, journey_id)
    if journey.status == "archived":
        raise JourneyConflict(f"journey '{journey_id}' is archived and cannot change")
    # Row lock: two concurrent updates must not both claim the same version number.
    await session.refresh(journey, with_for_update=True)
    previous = (await get_version(session, journey_id, journey.latest_version)).definition if in_step else None
    journey.latest_version += 1
    journey.name = definition.name
    journey.updated_at = utcnow()
    session.add(JourneyVersion(journey_id=journey_id, version=journey.latest_version, definition=_stored(definition)))
    audit.record(session, actor, "updated", "journey", journey_id, version=journey.latest_version,
                 name=definition.name)
    if in_step is None:
        await session.commit()
    else:
        status = journey.status
        await _commit_in_step(session, lambda: in_step(status, definition),
                              lambda: in_step(status, JourneyDefinition.model_validate(previous)))
    return journey


async def change_status(session: AsyncSession, journey_id: str, action: str, in_step: InStep | None = None, *,
                        actor: str = audit.SYSTEM) -> Journey:
    """Move the journey to the status `action` leads to; with `in_step`, only once the journey's
    schedule has been brought in step with it (and brought in step again if already there)."""
    journey = await get_journey(session, journey_id)
    # Row lock: concurrent changes reach Temporal and the database in the same order.
    await session.refresh(journey, with_for_update=True)
    allowed_from, target = TRANSITIONS[action]
    if journey.status != target and journey.status not in allowed_from:
        raise JourneyConflict(f"cannot {action} a journey that is {journey.status}")
    before = journey.status
    if before != target:
        journey.status = target
        journey.updated_at = utcnow()
        audit.record(session, actor, f"{action}d", "journey", journey_id, **{"from": before, "to": target})
    if in_step is None:
        await session.commit()
        return journey
    definition = JourneyDefinition.model_validate(
        (await get_version(session, journey_id, journey.latest_version)).definition)
    await _commit_in_step(session, lambda: in_step(target, definition), lambda: in_step(before, definition))
    return journey


async def _commit_in_step(session: AsyncSession, sync: Callable[[], Awaitable[None]],
                          undo: Callable[[], Awaitable[None]]) -> None:
    """All or nothing: commit only once `sync` has done its part, so a refusal from Temporal
    changes nothing; if the commit then fails, `undo` puts Temporal's part back."""
    try:
        await sync()
    except BaseException:
        await session.rollback()
        raise
    try:
        await session.commit()
    except BaseException:
        with contextlib.suppress(SojournError):
            await undo()
        raise


async def create(session: AsyncSession, triggers: Triggers, journey_id: str, raw_definition: dict,
                 webhook_policy: WebhookPolicy | None, *, actor: str) -> tuple[Journey, dict]:
    """Create a draft journey with its definition as version 1; the journey and that definition."""
    journey = await create_journey(session, journey_id, raw_definition, webhook_policy, actor=actor)
    triggers.invalidate()
    return journey, (await get_version(session, journey.id, 1)).definition


async def update(session: AsyncSession, client: Client, triggers: Triggers, task_queue: str, journey_id: str,
                 raw_definition: dict, webhook_policy: WebhookPolicy | None, *, actor: str) -> tuple[Journey, dict]:
    """Store a new version with the journey's schedule in step; the journey and the new definition."""

    async def in_step(status: str, definition: JourneyDefinition) -> None:
        await schedules.sync(client, journey_id, status, definition, task_queue, version_changed=True)

    journey = await add_version(session, journey_id, raw_definition, webhook_policy, in_step, actor=actor)
    triggers.invalidate()
    return journey, (await get_version(session, journey_id, journey.latest_version)).definition


async def change(session: AsyncSession, client: Client, triggers: Triggers, task_queue: str, journey_id: str,
                 action: str, *, actor: str) -> tuple[Journey, dict]:
    """Activate, pause or archive, with the journey's schedule in step: if Temporal refuses the
    schedule, the status stays as it was. The journey and its latest definition."""

    async def in_step(status: str, definition: JourneyDefinition) -> None:
        await schedules.sync(client, journey_id, status, definition, task_queue)

    journey = await change_status(session, journey_id, action, in_step, actor=actor)
    triggers.invalidate()
    return journey, (await get_version(session, journey_id, journey.latest_version)).definition


async def latest(session: AsyncSession, journey_id: str) -> tuple[Journey, dict]:
    """The journey and its latest definition."""
    journey = await get_journey(session, journey_id)
    return journey, (await get_version(session, journey_id, journey.latest_version)).definition


async def page(session: AsyncSession, limit: int, cursor: str | None) -> dict:
    return await keyset_page(session, select(Journey), Journey.id, limit, cursor)


def _stored(definition) -> dict:
    return definition.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass(kw_only=True)
class Enrollment(ContactResult):
    key: str | None = None


async def enroll(session: AsyncSession, client: Client, task_queue: str, journey_id: str,
                 external_ids: list[str]) -> tuple[int, list[Enrollment]]:
    """Start one run per contact the journey's re-entry rule lets in; a contact it keeps out
    is `existing`, with the run that keeps it out."""
    journey = await get_journey(session, journey_id)
    if journey.status != "active":
        raise JourneyConflict(f"journey '{journey_id}' is {journey.status}; activate it before enrolling")
    version = await get_version(session, journey_id, journey.latest_version)
    wanted = list(dict.fromkeys(external_ids))
    contacts = {c.external_id: c for c in (await session.execute(
        select(Contact).where(Contact.external_id.in_(wanted)))).scalars()}
    entered = {r.contact: r for r in await enter(session, client, task_queue, journey_id, version,
                                                 [contacts[ext] for ext in wanted if ext in contacts])}
    return version.version, [entered.get(ext) or Enrollment(contact=ext, status="not_found",
                                                            error="no contact with this external id")
                             for ext in wanted]


async def enter(session: AsyncSession, client: Client, task_queue: str, journey_id: str, version: JourneyVersion,
                contacts: list[Contact], *, key: str | None = None, event_key: bool = False,
                trigger: ContactEvent | None = None, progress: Callable[[int], None] | None = None) -> list[Enrollment]:
    """Every way into a journey that starts runs comes through here: start a run (under `key`)
    for each contact the journey's re-entry rule admits (see `sojourn.services.reentry`), and
    report the others `existing`. `event_key`: `key` is a keyed event entry's key, the only
    runs the rule counts. Commits, which releases the admission locks."""
    refused = await admit(session, journey_id, reentry_of(version.definition), [c.id for c in contacts],
                          event_key=key if event_key else None)
    started = {r.contact: r for r in await start_runs(
        session, client, task_queue, journey_id, version, [c for c in contacts if c.id not in refused],
        key=key, trigger=trigger, progress=progress)}
    await session.commit()

    def outcome(contact: Contact) -> Enrollment:
        if contact.id in refused:
            run = refused[contact.id]
            return Enrollment(contact=contact.external_id, status="existing", workflow_id=run.workflow_id,
                              run_id=run.run_id, version=run.version, key=run.key)
        return started[contact.external_id]

    return [outcome(c) for c in contacts]


async def start_runs(session: AsyncSession, client: Client, task_queue: str, journey_id: str,
                     version: JourneyVersion, contacts: list[Contact], key: str | None = None,
                     batch: str | None = None, trigger: ContactEvent | None = None,
                     progress: Callable[[int], None] | None = None) -> list[Enrollment]:
    """Start (or find) each contact's run, START_CONCURRENCY at a time, and record the new ones;
    `progress` hears how many are done after each. No re-entry rule here: callers admit first
    (`enter`, or a batched send for the messages it hands to runs)."""
    gate = asyncio.Semaphore(START_CONCURRENCY)
    done = 0
    await prepare_keys(client, [contact.external_id for contact in contacts])  # each run's input is sealed with them

    async def one(contact: Contact) -> Enrollment:
        nonlocal done
        async with gate:
            result = await start_run(client, task_queue, journey_id, version.version, version.definition, contact,
                                     key=key, trigger=trigger, batch=batch)
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

    Whether the contact may enter at all is decided before (`enter`); the id reuse policy only
    repeats the `never` rule for this one workflow id. A triggering event also reaches a run
    that is already active under this id, as an event.
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
                         batch=batch, record_steps=True, patches=list(PATCHES_AT_START)),
            **options,
        )
    except WorkflowAlreadyStartedError as err:
        return Enrollment(contact=contact.external_id, status="existing", workflow_id=wf_id, run_id=err.run_id, key=key)
    except Exception as err:  # reported per contact; the others still enroll
        return Enrollment(contact=contact.external_id, status="failed", workflow_id=wf_id, version=version,
                          error=str(err), key=key)
    run_id = handle.first_execution_run_id or handle.result_run_id
    return Enrollment(contact=contact.external_id, status="started", workflow_id=wf_id, run_id=run_id, version=version,
                      key=key)


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
        await align_steps(session, list(inserted))
    known = {row.run_id: row.version for row in (await session.execute(
        select(JourneyRun).where(JourneyRun.run_id.in_([r.run_id for r in results])))).scalars()}
    await session.commit()
    for result in results:
        if result.run_id not in inserted:
            result.status = "existing"
            result.version = known.get(result.run_id, result.version)
