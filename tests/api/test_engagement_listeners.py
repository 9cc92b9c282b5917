"""Only runs whose journey reacts to an open or click are signalled: the rest is stored and
counted, but costs Temporal nothing."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType

from sojourn.data.models import EngagementEvent, Message
from sojourn.dsl.definition import JourneyDefinition
from sojourn.services.engagement_listeners import heard

from helpers import SALE, add_contact, create_active_journey, enroll, tracking_path, wait_for_mail


def _definition(*nodes: dict) -> JourneyDefinition:
    return JourneyDefinition.model_validate({"name": "n", "nodes": [
        {"id": "mail", "type": "send", "subject": "s", "text": "t", "next": nodes[0]["id"] if nodes else "end"},
        *nodes, {"id": "end", "type": "exit"}]})


def test_what_a_definition_hears():
    assert heard(_definition()) == {}
    assert heard(_definition({"id": "w", "type": "wait_for", "event": {"opened": "mail"}, "timeout": "1d",
                              "on_event": "end", "on_timeout": "end"})) == {"mail": {"opened", "clicked"}}
    assert heard(_definition({"id": "w", "type": "wait_for", "event": {"clicked": "mail", "link": SALE},
                              "timeout": "1d", "on_event": "end", "on_timeout": "end"})) == {"mail": {"clicked"}}
    assert heard(_definition({"id": "b", "type": "branch", "cases": [
        {"when": {"attribute": "plan", "op": "eq", "value": "pro"}, "then": "end"},
        {"when": {"clicked": "mail"}, "then": "end"}], "default": "end"})) == {"mail": {"clicked"}}
    # Waiting for an event, or a filter on engagement (the database answers it), hears nothing.
    assert heard(_definition({"id": "w", "type": "wait_for", "event": {"event": "bought"}, "timeout": "1d",
                              "on_event": "b", "on_timeout": "b"},
                             {"id": "b", "type": "branch",
                              "condition": {"engagement": "opened", "journey": "other", "node": "x"},
                              "then": "end", "else": "end"})) == {}


async def _mailed(api, engine, journey: str, then: list[dict]) -> tuple[dict, str]:
    """`journey` mails its contact a link, waits 30 days, then does `then`."""
    await create_active_journey(api, journey, {"name": journey, "nodes": [
        {"id": "mail", "type": "send", "subject": f"Mail of {journey}", "html": f'<a href="{SALE}">Sale</a>',
         "next": "wait"},
        {"id": "wait", "type": "wait", "duration": "30d", "next": then[0]["id"] if then else "end"},
        *then, {"id": "end", "type": "exit"}]})
    await add_contact(api, journey, f"{journey}@example.com")
    [run] = await enroll(api, journey, journey)
    [mail] = await wait_for_mail(engine, f"{journey}@example.com")
    return mail, run["workflow_id"]


async def _stored(engine, workflow_id: str) -> list[tuple[str, bool]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(EngagementEvent.type, EngagementEvent.signal_due).join(Message)
                                  .where(Message.workflow_id == workflow_id).order_by(EngagementEvent.id))
        return [tuple(row) for row in rows]


async def _signals(temporal_env, workflow_id: str) -> int:
    history = await temporal_env.client.get_workflow_handle(workflow_id).fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in history.events)


async def test_only_the_engagement_a_journey_reacts_to_is_signalled(api, worker, engine, temporal_env, unique):
    deaf_mail, deaf = await _mailed(api, engine, f"deaf-{unique}", [])
    clicks_mail, clicks = await _mailed(api, engine, f"clicks-{unique}", [
        {"id": "clicked", "type": "branch", "condition": {"clicked": "mail"}, "then": "end", "else": "end"}])

    for mail in (deaf_mail, clicks_mail):
        assert (await api.get(tracking_path(mail["html"], "o"))).status_code == 200
        assert (await api.get(tracking_path(mail["html"], "c"), follow_redirects=False)).status_code == 302

    # Every open and click is stored; once nothing is due any more, whatever was owed has been
    # signalled (a due row is cleared only once its signal is delivered).
    deadline = time.monotonic() + 20
    while any(due for _, due in await _stored(engine, deaf) + await _stored(engine, clicks)):
        assert time.monotonic() < deadline, "signals still due"
        await asyncio.sleep(0.2)
    assert await _stored(engine, deaf) == [("opened", False), ("clicked", False)]
    assert await _stored(engine, clicks) == [("opened", False), ("clicked", False)]
    # The run that branches on a click heard the click alone; the one that decides nothing heard nothing.
    assert await _signals(temporal_env, clicks) == 1
    assert await _signals(temporal_env, deaf) == 0
