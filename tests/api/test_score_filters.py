"""Scores in the filter language: `{"score": NAME, "op": ..., "value": NUMBER}` selects contacts by
a stored prediction, in segments and in a journey's branch (Salesforce's offer by propensity
decile); a contact without the score matches no score condition; bad score filters are a 422
naming the problem; the two shipped journeys on deciles (examples/) run one contact per arm."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from sojourn.data.db import raw_connection
from sojourn.data.models import Contact
from sojourn.data.predictions import record_model, store_predictions
from sojourn.dsl.validation import load_definition_file

from helpers import (
    advance,
    create_active_journey,
    enroll,
    finished,
    put_contact,
    wait_for_mail,
    waiting_state,
    zone_at,
)


async def scored(api, engine, unique: str, deciles: dict[str, int | None]) -> dict[str, int]:
    """Contacts `<name>-<unique>` (attribute club = unique) with `purchase_30d` = decile / 10 and
    `purchase_30d.decile` = decile; a decile of None leaves the contact unscored."""
    for name in deciles:
        await put_contact(api, f"{name}-{unique}", email=f"{name}-{unique}@example.com", attributes={"club": unique})
    async with engine.connect() as conn:
        ids = dict((await conn.execute(select(Contact.external_id, Contact.id).where(
            Contact.external_id.in_([f"{name}-{unique}" for name in deciles])))).all())
    chosen = {name: ids[f"{name}-{unique}"] for name, decile in deciles.items() if decile is not None}
    as_of = datetime(2026, 1, 1, tzinfo=timezone.utc).replace(second=random.randrange(60), microsecond=random.randrange(10**6))
    async with raw_connection(engine) as conn:
        version = await record_model(conn, "purchase_30d", as_of, {}, {}, True, None)
        await store_predictions(conn, "purchase_30d", version, {
            "purchase_30d": (list(chosen.values()), [deciles[name] / 10 for name in chosen]),
            "purchase_30d.decile": (list(chosen.values()), [float(deciles[name]) for name in chosen])})
    return {name: ids[f"{name}-{unique}"] for name in deciles}


async def count(api, unique: str, condition: dict) -> int:
    segment = f"scores-{unique}-{random.randrange(10**9)}"
    created = await api.post("/v1/segments", json={"id": segment, "name": segment, "filter": {
        "and": [{"attribute": "club", "value": unique}, condition]}})
    assert created.status_code == 201, created.text
    return (await api.get(f"/v1/segments/{segment}/count")).json()["count"]


async def test_segments_select_contacts_by_score_and_decile(api, engine, unique):
    await scored(api, engine, unique, {f"d{d}": d for d in range(1, 11)} | {"new": None})
    assert await count(api, unique, {"score": "purchase_30d.decile", "op": "gte", "value": 9}) == 2
    assert await count(api, unique, {"score": "purchase_30d", "op": "gte", "value": 0.7}) == 4
    assert await count(api, unique, {"score": "purchase_30d", "op": "between", "value": [0.25, 0.55]}) == 3
    assert await count(api, unique, {"score": "purchase_30d", "op": "lt", "value": 0.15}) == 1
    # The contact without a score matches no score condition, not even `ne`; `not` is the way to ask for it.
    assert await count(api, unique, {"score": "purchase_30d.decile", "op": "ne", "value": 5}) == 9
    assert await count(api, unique, {"not": {"score": "purchase_30d", "op": "gte", "value": 0}}) == 1
    assert await count(api, unique, {"score": "churn_90d", "op": "gte", "value": 0}) == 0


async def test_a_bad_score_filter_is_a_422_naming_the_problem(api, unique):
    for condition, message in [
        ({"score": "purchase_30d", "op": "gte", "value": "high"}, "`gte` of a score needs a number value"),
        ({"score": "purchase_30d", "op": "in", "value": [1, 2]}, "Input should be 'eq', 'ne', 'gt', 'gte', 'lt', "
                                                                 "'lte' or 'between'"),
        ({"score": "purchase_30d", "op": "between", "value": ["2026-01-01T00:00:00Z", None]},
         "`between` of a score needs numbers"),
        ({"score": "Purchase 30d", "op": "gte", "value": 1}, "String should match pattern"),
        ({"score": "purchase_30d", "op": "gte", "value": 1, "min_weight": 2}, "Extra inputs are not permitted"),
    ]:
        response = await api.post("/v1/segments", json={"id": f"bad-{unique}", "name": "bad", "filter": condition})
        assert response.status_code == 422, response.text
        assert message in response.text, response.text


async def test_a_journey_branches_on_the_propensity_decile(api, worker, engine, temporal_env, unique):
    """Top decile a reminder, the middle 10% an offer, the bottom 20% a discount, others nothing."""
    await scored(api, engine, unique, {"top": 10, "middle": 5, "bottom": 2, "eighth": 8, "new": None})
    journey = f"by-decile-{unique}"
    await create_active_journey(api, journey, {"name": "offer by decile", "nodes": [
        {"id": "decile", "type": "branch", "cases": [
            {"when": {"score": "purchase_30d.decile", "op": "gte", "value": 10}, "then": "reminder"},
            {"when": {"score": "purchase_30d.decile", "op": "eq", "value": 5}, "then": "offer"},
            {"when": {"score": "purchase_30d.decile", "op": "lte", "value": 2}, "then": "discount"}],
         "default": "end"},
        {"id": "reminder", "type": "send", "subject": "Your favourites are waiting", "text": "t", "next": "end"},
        {"id": "offer", "type": "send", "subject": "Double points this week", "text": "t", "next": "end"},
        {"id": "discount", "type": "send", "subject": "20% off, just for you", "text": "t", "next": "end"},
        {"id": "end", "type": "exit"}]})
    runs = await enroll(api, journey, *(f"{name}-{unique}" for name in ("top", "middle", "bottom", "eighth", "new")))
    got = {}
    for name, run in zip(("top", "middle", "bottom", "eighth", "new"), runs):
        state = await finished(temporal_env, run["workflow_id"])
        got[name] = (state.path[0].outcome, [m.subject for m in state.messages])
    assert got == {
        "top": ("case 0", ["Your favourites are waiting"]),
        "middle": ("case 1", ["Double points this week"]),
        "bottom": ("case 2", ["20% off, just for you"]),
        "eighth": ("default", []),
        "new": ("default", []),
    }


EXAMPLES = Path(__file__).parents[2] / "examples"


async def test_the_predictive_signup_example_sends_the_top_two_deciles_the_premium_series(
        api, worker, engine, temporal_env, unique):
    """MailUp's playbook as shipped: the top 20% get the premium series, the rest the standard."""
    definition = load_definition_file(EXAMPLES / "predictive-signup.yaml")
    await scored(api, engine, unique, {"ninth": 9, "third": 3})
    journey = f"predictive-signup-{unique}"
    await create_active_journey(api, journey, definition)
    series = {}
    for (name, wait), run in zip((("ninth", timedelta(days=2)), ("third", timedelta(days=7))),
                                 await enroll(api, journey, f"ninth-{unique}", f"third-{unique}")):
        waiting = await waiting_state(temporal_env, run["workflow_id"])
        assert waiting.path[0].outcome == ("case 0" if name == "ninth" else "default")
        await advance(temporal_env, run["workflow_id"], wait + timedelta(minutes=1))
        series[name] = [m.node for m in (await finished(temporal_env, run["workflow_id"])).messages]
    assert series == {"ninth": ["premium_welcome", "premium_gift"], "third": ["standard_welcome", "standard_tips"]}
    [welcome, _] = await wait_for_mail(engine, f"ninth-{unique}@example.com", 2)
    assert welcome["subject"] == "Welcome, your members' preview is open"


async def test_the_offer_by_propensity_example_gives_each_decile_its_offer(api, worker, engine, temporal_env, unique):
    """Salesforce's member day as shipped: a reminder for the top decile, double points for the
    middle 10%, a discount for the bottom 20%, nothing for the rest or the unscored."""
    definition = load_definition_file(EXAMPLES / "offer-by-propensity.yaml")
    people = {"top": 10, "middle": 5, "bottom": 1, "seventh": 7, "new": None}
    await scored(api, engine, unique, people)
    for name in people:  # midday where they are: no quiet hours in the way
        await put_contact(api, f"{name}-{unique}", email=f"{name}-{unique}@example.com", time_zone=zone_at(12),
                          attributes={"club": unique})
    assert (await api.post("/v1/segments", json={"id": f"members-{unique}", "name": "members", "filter": {
        "attribute": "club", "value": unique}})).status_code == 201
    definition["entry"]["audience"] = f"members-{unique}"
    journey = f"offer-by-propensity-{unique}"
    await create_active_journey(api, journey, definition)
    runs = await enroll(api, journey, *(f"{name}-{unique}" for name in people))
    offers = {name: [m.node for m in (await finished(temporal_env, run["workflow_id"])).messages]
              for name, run in zip(people, runs)}
    assert offers == {"top": ["reminder"], "middle": ["double_points"], "bottom": ["discount"], "seventh": [], "new": []}
    [mail] = await wait_for_mail(engine, f"bottom-{unique}@example.com")
    assert mail["subject"] == "Member day: 20% off, just for you"
