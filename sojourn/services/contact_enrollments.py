"""Direct enrollment of more contacts than one call can start in time: the list is accepted
durably as a contact-list enrollment workflow (`workflows/contacts_enrollment.py`), whose
per-contact results the caller reads back by the enrollment's id.

An enrollment id names one enrollment: posting it again answers with that enrollment (its
results so far, or all of them) and starts nothing. Without one, the id is derived from the
journey's contact list, so the same list posted again is the same enrollment. Each chunk goes
through `journeys.enroll`, the path of a small call, so re-entry rules hold the same way."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from sojourn.contracts.contact_enrollment import (
    CONTACT_RESULTS_QUERY,
    ContactResult,
    ContactsEnrollmentInput,
    ContactsEnrollmentState,
    EnrolledContacts,
    contacts_enrollment_workflow_id,
)
from sojourn.data.db import session_factory
from sojourn.errors import NotFound
from sojourn.services import journeys
from sojourn.services.enrollments import NoWorker

# Up to this many contacts a call is answered with every result; more are accepted durably.
INLINE_LIMIT = 100
_QUERY_TIMEOUT = timedelta(seconds=2)
_ENDED = {WorkflowExecutionStatus.CANCELED: "cancelled", WorkflowExecutionStatus.TERMINATED: "cancelled",
          WorkflowExecutionStatus.FAILED: "failed", WorkflowExecutionStatus.TIMED_OUT: "failed"}


class ContactsEnrollmentNotFound(NotFound):
    pass


def answered_inline(contacts: list[str], enrollment_id: str | None) -> bool:
    """A small call without an enrollment id starts its runs before it answers."""
    return enrollment_id is None and len(set(contacts)) <= INLINE_LIMIT


def default_enrollment_id(contacts: list[str]) -> str:
    """The same list (in the same order) is the same enrollment."""
    return hashlib.sha256("\n".join(contacts).encode()).hexdigest()[:24]


async def accept(session: AsyncSession, client: Client, task_queue: str, journey_id: str, contacts: list[str],
                 enrollment_id: str | None) -> dict[str, Any]:
    """Start enrolling the contacts in the background; the enrollment as it stands."""
    journey = await journeys.get_journey(session, journey_id)
    if journey.status != "active":
        raise journeys.JourneyConflict(f"journey '{journey_id}' is {journey.status}; activate it before enrolling")
    wanted = list(dict.fromkeys(contacts))
    enrollment_id = enrollment_id or default_enrollment_id(wanted)
    try:
        await client.start_workflow(
            "ContactsEnrollmentWorkflow",
            ContactsEnrollmentInput(journey_id=journey_id, enrollment_id=enrollment_id, task_queue=task_queue,
                                    contacts=wanted),
            id=contacts_enrollment_workflow_id(journey_id, enrollment_id), task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)  # one enrollment per id, running or ended
    except WorkflowAlreadyStartedError:
        return await state(client, journey_id, enrollment_id)
    return _answer(ContactsEnrollmentState(journey_id=journey_id, enrollment_id=enrollment_id, status="accepted",
                                           total=len(wanted), version=None))


async def state(client: Client, journey_id: str, enrollment_id: str) -> dict[str, Any]:
    """The enrollment's per-contact results so far (all of them once it is completed)."""
    handle = client.get_workflow_handle(contacts_enrollment_workflow_id(journey_id, enrollment_id),
                                        result_type=ContactsEnrollmentState)
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ContactsEnrollmentNotFound(
                f"enrollment '{enrollment_id}' of journey '{journey_id}' not found") from None
        raise
    if description.status == WorkflowExecutionStatus.COMPLETED:  # its result needs no worker
        return _answer(await handle.result())
    try:
        answer = await handle.query(CONTACT_RESULTS_QUERY, result_type=ContactsEnrollmentState,
                                    rpc_timeout=_QUERY_TIMEOUT)
    except RPCError as err:
        raise NoWorker(f"no worker answered for enrollment '{enrollment_id}': {err}") from None
    if description.status in _ENDED:
        answer.status = _ENDED[description.status]
    return _answer(answer)


def _answer(answer: ContactsEnrollmentState) -> dict[str, Any]:
    return dataclasses.asdict(answer)


class ContactChunks:
    """The enrollment workflow's activity: one chunk of the list through `journeys.enroll`."""

    def __init__(self, engine: AsyncEngine, client: Client) -> None:
        self._sessions = session_factory(engine)
        self._client = client

    async def enroll(self, journey_id: str, task_queue: str, contacts: list[str]) -> EnrolledContacts:
        """Raises journeys.JourneyConflict once the journey no longer takes contacts."""
        async with self._sessions() as session:
            version, results = await journeys.enroll(session, self._client, task_queue, journey_id, contacts)
        return EnrolledContacts(version=version, results=[
            ContactResult(contact=r.contact, status=r.status, workflow_id=r.workflow_id, run_id=r.run_id,
                          version=r.version, error=r.error) for r in results])
