"""The `tag` node: a journey adds, increments and removes a contact's tags, once per visit,
and a later branch reads the weight."""

from __future__ import annotations

from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.journey_data import JourneyDataActivities
from sojourn.contracts.journey_data import TagChange
from sojourn.data.models import Contact
from sojourn.services.journey_data import JourneyData

from helpers import create_active_journey, enroll, finished, put_contact


async def test_tag_nodes_change_weights_that_a_branch_reads(api, worker, engine, temporal_env, unique):
    journey, contact = f"tagging-{unique}", f"ivy-{unique}"
    await put_contact(api, contact, email=f"{contact}@example.com")
    await create_active_journey(api, journey, {"name": "tagging", "nodes": [
        {"id": "mark", "type": "tag", "tag": "oily-skin", "weight": 2, "next": "bump"},
        {"id": "bump", "type": "tag", "tag": "oily-skin", "action": "increment", "weight": 1.5, "next": "trial"},
        {"id": "trial", "type": "tag", "tag": "trial", "next": "untrial"},
        {"id": "untrial", "type": "tag", "tag": "trial", "action": "remove", "next": "strong"},
        {"id": "strong", "type": "branch", "cases": [{"when": {"tag": "oily-skin", "min_weight": 3}, "then": "offer"}],
         "default": "end"},
        {"id": "offer", "type": "send", "subject": "Oil-control picks", "text": "For you", "next": "end"},
        {"id": "end", "type": "exit"}]})
    [run] = await enroll(api, journey, contact)
    state = await finished(temporal_env, run["workflow_id"])

    assert [(step.node, step.outcome) for step in state.path[:5]] == [
        ("mark", "weight 2"), ("bump", "weight 3.5"), ("trial", "weight 1"), ("untrial", "removed"),
        ("strong", "case 0")]
    assert state.messages[0].subject == "Oil-control picks"
    tags = (await api.get(f"/v1/contacts/{contact}")).json()["tags"]
    assert [(t["tag"], t["weight"], t["source"]) for t in tags] == [("oily-skin", 3.5, f"journey:{journey}/bump")]


async def test_a_retried_increment_counts_once(api, engine, unique):
    await put_contact(api, f"rex-{unique}")
    async with engine.connect() as conn:
        contact_id = (await conn.execute(select(Contact.id).where(Contact.external_id == f"rex-{unique}"))).scalar()
    data = JourneyDataActivities(JourneyData(engine))
    change = TagChange(contact_id=contact_id, tag="loyal", action="increment", weight=1, source="test", key="run/a/1")
    env = ActivityEnvironment()
    assert await env.run(data.tag_contact, change) == 1
    assert await env.run(data.tag_contact, change) == 1  # the same change again: a retry after commit
    assert await env.run(data.tag_contact, TagChange(**{**change.__dict__, "key": "run/a/2"})) == 2
