"""A contact's runs as the API shows them: the workflow's own state, or for a message a batched
send delivered (no workflow), the story its message tells; and cancelling a run."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from sojourn.contracts.journey import (
    STATE_QUERY,
    EngagementSignal,
    JourneyState,
    PathStep,
    SentMessage,
    message_scope,
)
from sojourn.data.models import Contact, EngagementEvent, JourneyRun, Message
from sojourn.errors import Conflict, NotFound
from sojourn.services.contacts import find
from sojourn.services.engagement import SIGNALLED

_QUERY_TIMEOUT = timedelta(seconds=10)
CONTACT_RUNS = 100


class RunNotFound(NotFound):
    pass


class RunNotCancellable(Conflict):
    pass


async def run_state(session: AsyncSession, client: Client, journey_id: str, external_id: str) -> dict[str, Any]:
    """Where the contact is in the journey (its newest run, keyed runs included)."""
    run = await _find_run(session, journey_id, external_id)
    if run.batch is not None:
        return (await _batched(session, [run], external_id))[run.id]
    return await _live(client, run, external_id)


async def cancel(session: AsyncSession, client: Client, journey_id: str, external_id: str) -> dict[str, Any]:
    """Stop the contact's newest run of the journey; its state after the request."""
    run = await _find_run(session, journey_id, external_id)
    if run.batch is not None:
        raise RunNotCancellable("the contact's message went out in a batch; there is no run to cancel")
    try:
        await client.get_workflow_handle(run.workflow_id).cancel()
    except RPCError as err:
        raise RunNotCancellable(f"run cannot be cancelled: {err.message}") from err
    return await _live(client, run, external_id)


async def contact_runs(session: AsyncSession, client: Client, external_id: str) -> list[dict[str, Any]]:
    """Every journey the contact was enrolled in, newest first."""
    contact = await find(session, external_id)
    runs = list((await session.execute(select(JourneyRun).where(JourneyRun.contact_id == contact.id)
                                       .order_by(JourneyRun.enrolled_at.desc()).limit(CONTACT_RUNS))).scalars())
    # The session answers one query at a time; the workflows are asked all at once.
    batched = await _batched(session, [run for run in runs if run.batch is not None], external_id)
    live = iter(await asyncio.gather(*(_live(client, run, external_id) for run in runs if run.batch is None)))
    return [batched[run.id] if run.batch is not None else next(live) for run in runs]


async def _find_run(session: AsyncSession, journey_id: str, external_id: str) -> JourneyRun:
    # Newest first, keyed runs (a cart, a segment enrollment) included.
    run = (await session.execute(select(JourneyRun).join(Contact, Contact.id == JourneyRun.contact_id).where(
        JourneyRun.journey_id == journey_id, Contact.external_id == external_id)
        .order_by(JourneyRun.enrolled_at.desc(), JourneyRun.id.desc()).limit(1))).scalar_one_or_none()
    if run is None:
        raise RunNotFound(f"run of contact '{external_id}' in journey '{journey_id}' not found")
    return run


def _view(run: JourneyRun, external_id: str, **rest: Any) -> dict[str, Any]:
    return {"workflow_id": run.workflow_id, "journey_id": run.journey_id, "version": run.version,
            "contact": external_id, **rest}


async def _live(client: Client, run: JourneyRun, external_id: str) -> dict[str, Any]:
    handle = client.get_workflow_handle(run.workflow_id, run_id=run.run_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return _view(run, external_id, run_id=run.run_id, execution_status="UNKNOWN", state=None)
        raise
    state = None
    try:
        state = dataclasses.asdict(await handle.query(STATE_QUERY, result_type=JourneyState,
                                                      rpc_timeout=_QUERY_TIMEOUT))
    except RPCError:
        pass  # no worker to answer right now: the execution status still tells the story
    status = description.status.name if isinstance(description.status, WorkflowExecutionStatus) else "UNKNOWN"
    node = state["current_node"] if state else None
    return _view(run, external_id, run_id=run.run_id, execution_status=status, state=state,
                 retrying=await _retrying(client, description.raw_description.pending_activities, node))


async def _retrying(client: Client, pending: Sequence[PendingActivityInfo], node: str | None) -> list[dict[str, Any]]:
    """The run's activities that failed and wait for (or run) another attempt, as Temporal keeps
    them: a send during a provider's outage. The run does one thing at a time, so its current
    node is the one retrying."""
    return [{"node": node, "activity": activity.activity_type.name, "attempt": activity.attempt,
             "last_error": await _message(client, activity.last_failure),
             "last_failed_at": _time(activity, "last_attempt_complete_time"),
             "next_attempt_at": _time(activity, "next_attempt_schedule_time")}
            for activity in pending if activity.HasField("last_failure")]


async def _message(client: Client, failure: Failure) -> str:
    """A failure's message, which the payload codec sealed (payload_codec.py)."""
    unsealed = Failure()
    unsealed.CopyFrom(failure)
    return str(await client.data_converter.decode_failure(unsealed))


def _time(activity: PendingActivityInfo, name: str) -> str | None:
    return getattr(activity, name).ToDatetime(timezone.utc).isoformat() if activity.HasField(name) else None


async def _batched(session: AsyncSession, runs: list[JourneyRun], external_id: str) -> dict[int, dict[str, Any]]:
    """Runs a batched send delivered have no workflow: their story is their message. Two
    queries for all of them, by row id."""
    if not runs:
        return {}
    messages = list((await session.execute(select(Message).where(
        Message.workflow_id.in_({run.workflow_id for run in runs})))).scalars())
    engaged = list((await session.execute(select(EngagementEvent).where(
        EngagementEvent.message_id.in_([m.id for m in messages]), EngagementEvent.type.in_(SIGNALLED),
        EngagementEvent.automated.is_(False))
        .order_by(EngagementEvent.occurred_at))).scalars()) if messages else []
    views = {}
    for run in runs:
        scope = message_scope(run.workflow_id, run.batch)
        mine = [m for m in messages if m.idempotency_key.startswith(scope)]
        by_id = {m.id: m for m in mine}
        state = JourneyState(
            journey_id=run.journey_id, version=run.version, contact_external_id=external_id, status=run.status,
            current_node=None, wait_until=None,
            path=[PathStep(node=m.node_id, type="send", entered_at=run.enrolled_at.isoformat(), outcome=m.status)
                  for m in mine],
            messages=[SentMessage(node=m.node_id, message_id=str(m.id), status=m.status, recipient=m.recipient,
                                  subject=m.subject, at=(m.sent_at or m.created_at).isoformat(), reason=m.error,
                                  channel=m.channel) for m in mine],
            engagements=[EngagementSignal(send_node=by_id[e.message_id].node_id, kind=e.type,
                                          message_id=str(e.message_id), url=e.url,
                                          occurred_at=e.occurred_at.isoformat())
                         for e in engaged if e.message_id in by_id],
            key=run.key, batch=run.batch)
        views[run.id] = _view(run, external_id, run_id=None, execution_status="COMPLETED",
                              state=dataclasses.asdict(state), delivery="batch")
    return views
