"""A journey that is a single send, delivered straight from an enrollment's pages.

Each contact's message goes through the very path a run's send takes (`Sender.deliver`:
idempotency key, consent, suppression, quiet hours, caps, rate limits), with no workflow per
contact. A message that may not go now (quiet hours, a cap, a provider's "not now") is handed to
a run of its own that sleeps durably until it may; that run keeps the batch's message key, so
whichever of them gets to send it, it goes once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from sojourn.contracts.enrollment import ERRORS_PER_PAGE, EnrolledPage, EnrollPage, enrollment_workflow_id
from sojourn.contracts.errors import ErrorType
from sojourn.contracts.journey import journey_workflow_id, message_key
from sojourn.contracts.send import SendRequest, SendResult, send_request
from sojourn.data.models import Contact, JourneyRun, JourneyVersion, utcnow
from sojourn.delivery.send import Loaded, Sender
from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.nodes import SendNode
from sojourn.services.journeys import start_runs
from sojourn.services.reentry import admit

# Messages in flight at once per page: enough to keep every SMTP connection (or provider
# request) busy while others wait on the database.
BATCH_CONCURRENCY = 32
_RUN_NAMESPACE = uuid.UUID("0b6c55a4-52c1-4a0e-bb8e-6f2d3c1c9e41")
_DELIVERED = {"sent": "sent", "unconfirmed": "sent", "skipped": "skipped"}
_HEARTBEAT_EVERY = 25
_RECORD_RUN = insert(JourneyRun.__table__).on_conflict_do_nothing()


@dataclass
class _Outcome:
    contact: Contact
    tally: str  # sent | skipped | held | failed | existing | gone
    reason: str | None = None


class BatchSender:
    def __init__(self, sender: Sender, client: Client) -> None:
        self._sender = sender
        self._client = client

    async def send_page(self, session: AsyncSession, page: EnrollPage, version: JourneyVersion,
                        definition: JourneyDefinition, node: SendNode, contacts: list[Contact], *,
                        heartbeat: Callable[..., None]) -> EnrolledPage:
        """Send the page's messages, record the finished ones and start runs for the held ones.
        `heartbeat` is called as messages complete and while a rate limit is waited out."""
        batch = enrollment_workflow_id(page.journey_id, page.enrollment_id)
        key = page.enrollment_id if page.keyed else None
        # The admission locks hold until the page's rows are recorded (the last commit below).
        barred = await admit(session, page.journey_id, definition.reentry, [c.id for c in contacts],
                             counted=JourneyRun.batch.is_distinct_from(batch))
        entering = [c for c in contacts if c.id not in barred]
        requests = []
        for contact in entering:
            workflow_id = journey_workflow_id(page.journey_id, contact.external_id, key)
            requests.append(send_request(message_key(workflow_id, batch, node.id, 1), workflow_id, page.journey_id,
                                         version.version, contact.id, version.definition, node.id))
        loaded = await self._sender.load(requests) if requests else {}
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)
        done = 0

        async def one(contact: Contact, request: SendRequest) -> _Outcome:
            nonlocal done
            async with gate:
                outcome = await self._one(contact, request, node, loaded[request.idempotency_key], heartbeat)
            done += 1
            if done % _HEARTBEAT_EVERY == 0:
                heartbeat(done)
            return outcome

        outcomes = await asyncio.gather(*(one(contact, request) for contact, request in zip(entering, requests)))
        finished = [o for o in outcomes if o.tally in ("sent", "skipped", "failed", "existing")]
        await self._record_finished(session, page, version, key, batch, [o.contact for o in finished])
        held = [o.contact for o in outcomes if o.tally == "held"]
        # Each held message gets a run that sleeps until it may go, under the batch's key.
        started = await start_runs(session, self._client, page.task_queue, page.journey_id, version, held,
                                   key=key, batch=batch)
        await session.commit()  # the finished rows and the held runs' rows, together
        errors = [f"{o.contact.external_id}: {o.reason}" for o in outcomes if o.tally == "failed"] + [
            f"{r.contact}: its run could not start: {r.error}" for r in started if r.status == "failed"]
        tally = [o.tally for o in outcomes]
        return EnrolledPage(
            last_id=contacts[-1].id, mode="batch",
            enrolled=tally.count("sent") + tally.count("skipped") + sum(r.status == "started" for r in started),
            existing=len(barred) + tally.count("existing") + sum(r.status == "existing" for r in started),
            failed=len(errors), errors=errors[:ERRORS_PER_PAGE],
            sent=tally.count("sent"), skipped=tally.count("skipped"), held=len(held))

    async def _one(self, contact: Contact, request: SendRequest, node: SendNode, loaded: Loaded,
                   heartbeat: Callable[..., None]) -> _Outcome:
        while True:
            try:
                result: SendResult = await self._sender.deliver(request, utcnow(), loaded, node)
            except ApplicationError as err:
                if err.type == ErrorType.RATE_LIMITED and err.next_retry_delay is not None:
                    # The batch is the long-running activity here: it waits its turn itself.
                    heartbeat()
                    await asyncio.sleep(err.next_retry_delay.total_seconds())
                    loaded = None  # asked again: the wait may have changed what is recorded
                    continue
                if err.type == ErrorType.CONTACT_NOT_FOUND:  # erased since the page was read
                    return _Outcome(contact, "gone")
                # Final: the message is recorded failed. Otherwise a run retries it with backoff.
                return _Outcome(contact, "failed" if err.non_retryable else "held", str(err))
            if result.earlier:  # an earlier attempt of this page, or an earlier enrollment under its id
                return _Outcome(contact, "existing")
            return _Outcome(contact, _DELIVERED.get(result.status, "held"), result.reason)

    async def _record_finished(self, session: AsyncSession, page: EnrollPage, version: JourneyVersion,
                               key: str | None, batch: str, contacts: list[Contact]) -> None:
        """One completed `journey_runs` row per contact, the same on a retried page (committed
        with the held runs' rows, so the admission locks hold until every entry is recorded)."""
        if not contacts:
            return
        now = utcnow()
        rows = [dict(run_id=f"batch-{uuid.uuid5(_RUN_NAMESPACE, f'{batch}/{c.id}')}",
                     workflow_id=journey_workflow_id(page.journey_id, c.external_id, key), journey_id=page.journey_id,
                     version=version.version, contact_id=c.id, key=key, status="completed", enrolled_at=now,
                     ended_at=now, batch=batch) for c in contacts]
        # Many rows through one statement compiled once (not a VALUES list rebuilt per page).
        await (await session.connection()).execute(_RECORD_RUN, rows)
