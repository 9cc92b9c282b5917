"""Telling waiting runs of opens and clicks, off the request path, without losing one.

The stored event is the truth: `record` stores an open or click a run must hear of with
`signal_due` and hands it here once committed; this signals the run after the answer has gone
and clears the flag. A signal that fails (Temporal down or slow) stays due, and the sweep
retries every row due for longer than `retry_after`, so one the process held when it stopped is
delivered by the next sweep of any API process. A run that has ended is not waiting any more:
its row is cleared. Two processes may both deliver a row they swept at once; the run ignores a
repeat of an engagement it has seen (`workflows/interpreter.py`), so that costs a signal, not a
second branch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from sojourn.contracts.journey import ENGAGEMENT_SIGNAL, EngagementSignal, contact_of_workflow_id
from sojourn.data.db import statement_by_statement
from sojourn.data.models import EngagementEvent, Message, utcnow
from sojourn.services.payload_codec import prepare_keys

log = logging.getLogger(__name__)

_BATCH = 50  # signals delivered together, then cleared in one statement
_SENDERS = 4  # batches in flight


@dataclass(frozen=True)
class DueSignal:
    event_id: int
    workflow_id: str
    signal: EngagementSignal
    log_ids: dict  # journey, contact and message ids for log lines


class EngagementSignals:
    def __init__(self, engine: AsyncEngine, client: Client, retry_after: timedelta = timedelta(seconds=10)) -> None:
        self._engine = engine
        self._client = client
        self._retry_after = retry_after
        self._queue: asyncio.Queue[DueSignal] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    def owed(self, due: DueSignal) -> None:
        """A committed event whose run must hear of it; delivered shortly, in the background."""
        self._queue.put_nowait(due)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send_forever()) for _ in range(_SENDERS)]
        self._tasks.append(asyncio.create_task(self._sweep_forever()))

    async def stop(self) -> None:
        """Stop delivering; whatever is still queued stays due in its row for a later sweep."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _send_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self.deliver(batch)
            except Exception:  # the rows stay due; the sweep tries them again
                log.exception("engagement signals not delivered; retried from the stored events")

    async def _sweep_forever(self) -> None:
        every = max(self._retry_after.total_seconds() / 2, 0.1)
        while True:
            await asyncio.sleep(every)
            try:
                await self.sweep()
            except Exception:
                log.exception("sweeping engagement signals still due failed; trying again in %.1f s", every)

    async def sweep(self, limit: int = 500) -> int:
        """Deliver the signals due for longer than `retry_after`; how many were tried."""
        async with statement_by_statement(self._engine) as conn:
            rows = (await conn.execute(
                select(EngagementEvent.id, EngagementEvent.type, EngagementEvent.url, EngagementEvent.occurred_at,
                       Message.id.label("message_id"), Message.workflow_id, Message.node_id, Message.journey_id,
                       Message.contact_id)
                .join(Message, Message.id == EngagementEvent.message_id)
                .where(EngagementEvent.signal_due, EngagementEvent.received_at < utcnow() - self._retry_after)
                .order_by(EngagementEvent.received_at).limit(limit))).all()
        due = [due_signal(row.id, row.workflow_id, row.node_id, row.type, row.message_id, row.url, row.occurred_at,
                          row.journey_id, row.contact_id) for row in rows]
        for start in range(0, len(due), _BATCH):
            await self.deliver(due[start:start + _BATCH])
        return len(due)

    async def deliver(self, batch: list[DueSignal]) -> None:
        """Signal each run; clear the rows of those delivered or whose run has ended."""
        contacts = {contact for due in batch if (contact := contact_of_workflow_id(due.workflow_id))}
        await prepare_keys(self._client, contacts)  # each signal is sealed with its contact's key
        outcomes = await asyncio.gather(*(self._signal(due) for due in batch))
        done = [due.event_id for due, ok in zip(batch, outcomes, strict=True) if ok]
        if done:
            async with statement_by_statement(self._engine) as conn:
                await conn.execute(update(EngagementEvent).where(EngagementEvent.id.in_(done)).values(signal_due=False))

    async def _signal(self, due: DueSignal) -> bool:
        try:
            await self._client.get_workflow_handle(due.workflow_id).signal(
                ENGAGEMENT_SIGNAL, due.signal, rpc_timeout=timedelta(seconds=10))
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # the run has ended; the event stays recorded
                return True
            log.warning("engagement signal to %s failed (%s); retried later", due.workflow_id, err,
                        extra=due.log_ids)
            return False
        return True


def due_signal(event_id: int, workflow_id: str, node_id: str, kind: str, message_id, url: str | None,
               occurred_at, journey_id: str, contact_id: int) -> DueSignal:
    return DueSignal(event_id=event_id, workflow_id=workflow_id,
                     signal=EngagementSignal(send_node=node_id, kind=kind, message_id=str(message_id), url=url,
                                             occurred_at=occurred_at.isoformat()),
                     log_ids={"journey_id": journey_id, "contact_id": contact_id, "message_id": str(message_id)})
