"""Funnels end to end: runs write their steps as they move, and a journey's funnel counts them."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from test_event_journeys import send_events

from sojourn.contracts.journey import JourneyState
from sojourn.contracts.statuses import MessageStatus, RunStatus
from sojourn.data.models import Contact, ContactConsent, JourneyRun, JourneyStep, MailboxMessage, Message
from sojourn.dev.mailbox import to_dict as mail_dict

from helpers import (
    add_contact,
    advance,
    create_active_journey,
    enroll,
    finished,
    post_webhook,
    tracking_path,
    wait_for_mail,
)


def follow_up(unique: str) -> dict:
    """Welcome, a day's pause, then thanks for those who opened it and a reminder for the others."""
    return {
        "name": "Follow-up",
        "nodes": [
            {"id": "welcome", "type": "send", "subject": f"Welcome {unique}",
             "html": '<p><a href="https://shop.example/">Shop</a></p>', "next": "pause"},
            {"id": "pause", "type": "wait", "duration": "1d", "next": "opened"},
            {"id": "opened", "type": "branch", "condition": {"opened": "welcome"}, "then": "thanks",
             "else": "reminder"},
            {"id": "thanks", "type": "send", "subject": f"Thanks {unique}", "text": "Thank you.", "next": "end"},
            {"id": "reminder", "type": "send", "subject": f"Reminder {unique}", "text": "Still there?", "next": "end"},
            {"id": "end", "type": "exit"},
        ],
    }


async def steps_of(engine, run_id: str) -> list[JourneyStep]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(JourneyStep).where(JourneyStep.run_id == run_id)
                                   .order_by(JourneyStep.seq))).all()
    return [JourneyStep.model_validate(row._mapping) for row in rows]


async def steps_until(engine, run_id: str, count: int, timeout: float = 20.0) -> list[JourneyStep]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        steps = await steps_of(engine, run_id)
        if len(steps) >= count or asyncio.get_running_loop().time() > deadline:
            return steps
        await asyncio.sleep(0.1)


def ways(steps: list[JourneyStep]) -> list[tuple]:
    return [(s.seq, s.node_id, s.node_type, s.outcome, s.left_at is not None) for s in steps]


async def test_runs_write_their_steps_as_they_move(api, worker, engine, temporal_env, unique):
    journey = f"follow-up-{unique}"
    await create_active_journey(api, journey, follow_up(unique))
    for name in ("opens", "ignores"):
        await add_contact(api, f"{name}-{unique}", f"{name}-{unique}@example.com")
    results = await enroll(api, journey, f"opens-{unique}", f"ignores-{unique}")
    runs = {name: r for name, r in zip(("opens", "ignores"), results)}

    welcome = (await wait_for_mail(engine, f"opens-{unique}@example.com"))[0]
    assert (await api.get(tracking_path(welcome["html"], "o"))).status_code == 200
    # Resting in the pause, each run is counted there: the welcome left as sent, the pause not left.
    for run in runs.values():
        resting = await steps_until(engine, run["run_id"], 2)
        assert ways(resting) == [(1, "welcome", "send", "sent", True), (2, "pause", "wait", None, False)]
        assert resting[0].left_at == resting[1].entered_at
        assert (resting[0].journey_id, resting[0].version) == (journey, 1)

    for run in runs.values():
        await advance(temporal_env, run["workflow_id"], timedelta(days=1, minutes=1))
        await finished(temporal_env, run["workflow_id"])
    opened, ignored = [await steps_of(engine, runs[name]["run_id"]) for name in ("opens", "ignores")]
    assert ways(opened)[1:] == [(2, "pause", "wait", None, True), (3, "opened", "branch", "then", True),
                                (4, "thanks", "send", "sent", True), (5, "end", "exit", None, True)]
    assert ways(ignored)[2:] == [(3, "opened", "branch", "else", True), (4, "reminder", "send", "sent", True),
                                 (5, "end", "exit", None, True)]
    assert opened[1].left_at - opened[1].entered_at >= timedelta(days=1)
    assert {s.contact_id for s in opened} != {s.contact_id for s in ignored}


def shop(unique: str) -> dict:
    """A branching journey with every kind of way out (skips, a branch, a wait_for's event and
    timeout, an exit event) on real-time waits of seconds, so a thousand runs move together
    without moving each run's clock. Those who did not open rest at `later`."""
    return {
        "name": "Shop",
        "exit_on": [{"event": "opt.out"}],
        "goal": {"event": "purchase", "within": "3d", "value": "properties.amount", "exit": False},
        "nodes": [
            {"id": "welcome", "type": "send", "subject": f"Welcome {unique}",
             "html": '<p><a href="https://shop.example/">Shop</a></p>', "next": "pause"},
            {"id": "pause", "type": "wait", "duration": PAUSE, "next": "engaged"},
            {"id": "engaged", "type": "branch", "condition": {"opened": "welcome"}, "then": "offer", "else": "later"},
            {"id": "later", "type": "wait", "duration": "1d", "next": "end"},
            {"id": "offer", "type": "send", "subject": f"Offer {unique}",
             "html": '<p><a href="https://shop.example/offer">Offer</a></p>', "next": "buys"},
            {"id": "buys", "type": "wait_for", "event": {"event": "purchase"}, "timeout": BUYS_WITHIN,
             "on_event": "thanks", "on_timeout": "end"},
            {"id": "thanks", "type": "send", "subject": f"Thanks {unique}", "text": "Thank you.", "next": "end"},
            {"id": "end", "type": "exit"},
        ],
    }


RUNS = 1000
# Each run rests this long after its welcome: an open made as the mail arrives takes `then`. An
# open that comes later takes `else`; either way the truth is what the run did, so timing on a
# loaded machine changes the numbers compared, never whether they match.
PAUSE = "15s"
BUYS_WITHIN = "10s"
IN_FLIGHT = 20  # engagement requests at once, as many readers would make them
WORKFLOW_TASKS = 16


def truth(states: dict[str, JourneyState], opens: Counter, clicks: Counter) -> dict:
    """The funnel counted from the runs' own state (the workflows' query) and what the test did."""
    nodes: dict[str, dict] = {}
    for state in states.values():
        messages = iter(state.messages)
        for index, step in enumerate(state.path):
            node = nodes.setdefault(step.node, {"entered": 0, "here": 0, "left": Counter(), "skipped": Counter()})
            node["entered"] += 1
            last = index == len(state.path) - 1
            if step.type == "send":
                message = next(messages)
                way = message.status
                if message.status == MessageStatus.SKIPPED:
                    node["skipped"][message.reason] += 1
            elif step.type in ("branch", "wait_for"):
                way = step.outcome
            else:
                way = "next"
            if last and state.status == RunStatus.ACTIVE:
                node["here"] += 1
                continue
            if last and state.status == RunStatus.EXITED and step.type != "send":
                way = "exited"
            node["left"][way] += 1
    for node_id, node in nodes.items():
        node["opens"] = {"unique": len([m for m in opens if m[0] == node_id]),
                         "total": sum(n for m, n in opens.items() if m[0] == node_id)}
        node["clicks"] = {"unique": len([m for m in clicks if m[0] == node_id]),
                          "total": sum(n for m, n in clicks.items() if m[0] == node_id)}
    return nodes


async def import_contacts(api, contacts: dict[str, str | None]) -> None:
    body = "\n".join(json.dumps({"external_id": c, "email": email}) for c, email in contacts.items())
    response = await api.post("/v1/contacts/import", content=body.encode(),
                              headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200 and response.json()["inserted"] == len(contacts), response.text


async def new_mail(engine, subjects: set[str], after: int) -> list[dict]:
    """Mail with these subjects the sink received after row `after`, oldest first."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(MailboxMessage).where(MailboxMessage.id > after,
                                                                MailboxMessage.subject.in_(subjects))
                                   .order_by(MailboxMessage.id))).all()
    return [mail_dict(row) for row in rows]


async def settled_runs(engine, journey: str) -> int:
    """Runs that have ended or rest at `later` (where nothing more happens during the test)."""
    r, s = JourneyRun.__table__.c, JourneyStep.__table__.c
    async with engine.connect() as conn:
        ended = (await conn.execute(select(func.count()).where(r.journey_id == journey, r.status != "active"))).scalar()
        resting = (await conn.execute(select(func.count()).where(
            s.journey_id == journey, s.node_id == "later", s.left_at.is_(None)))).scalar()
    return ended + resting


async def states_of(temporal_env, runs: dict[str, dict]) -> dict[str, JourneyState]:
    """Each run's state, asked of its workflow (a few queries at a time)."""
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def state(run: dict) -> JourneyState:
        async with limit:
            handle = temporal_env.client.get_workflow_handle(run["workflow_id"])
            return await handle.query("state", result_type=JourneyState)

    people = list(runs)
    return dict(zip(people, await asyncio.gather(*(state(runs[p]) for p in people)), strict=True))


async def test_the_funnel_counts_a_thousand_runs_exactly(api, start_worker, engine, temporal_env, unique):
    # A few workflow tasks at a time: on a loaded machine the rest wait at the server, where no
    # timer runs, rather than in this one busy process past their 10 s task timeout (then retried
    # from scratch, which only adds load).
    async with start_worker(max_concurrent_workflow_tasks=WORKFLOW_TASKS):
        await thousand_runs(api, engine, temporal_env, unique)


async def thousand_runs(api, engine, temporal_env, unique: str) -> None:
    journey = f"shop-{unique}"
    await create_active_journey(api, journey, shop(unique))
    rng = random.Random(12)
    people = [f"p{i:04d}-{unique}" for i in range(RUNS)]
    address = {p: None if i % 10 == 0 else f"{p}@example.com" for i, p in enumerate(people)}  # none: skipped
    by_address = {email: p for p, email in address.items() if email}
    await import_contacts(api, address)
    # A hundred at a time: each call starts its runs before it answers, no enrollment workflow between.
    runs = {p: run for chunk in range(0, RUNS, 100)
            for p, run in zip(people[chunk:chunk + 100], await enroll(api, journey, *people[chunk:chunk + 100]))}

    opens: Counter = Counter()  # (node, person) -> pixel fetches
    clicks: Counter = Counter()
    buyers: list[str] = []
    amounts = {p: rng.randint(10, 100) for p in people}
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def engage(node: str, person: str, mail: dict) -> None:
        async with limit:
            if rng.random() < 0.5:
                for _ in range(rng.randint(1, 3)):
                    assert (await api.get(tracking_path(mail["html"], "o"))).status_code == 200
                    opens[node, person] += 1
            if rng.random() < 0.3:
                for _ in range(rng.randint(1, 2)):
                    assert (await api.get(tracking_path(mail["html"], "c"))).status_code in (302, 303, 307)
                    clicks[node, person] += 1
            if node == "offer" and rng.random() < 0.5:
                buyers.append(person)
                await send_events(api, {"contact": person, "name": "purchase", "event_id": f"buy-{person}",
                                        "properties": {"amount": amounts[person]}})

    # Each mail is engaged with as it arrives, as its reader would. Those leaving opt out as
    # their welcome arrives (at once if they have no address): their runs are in the pause.
    leaving = set(rng.sample(people, 50))
    await send_events(api, *({"contact": p, "name": "opt.out", "event_id": f"out-{p}"}
                             for p in leaving if not address[p]))
    subjects = {"welcome": f"Welcome {unique}", "offer": f"Offer {unique}"}
    node_of = {subject: node for node, subject in subjects.items()}
    tasks: list[asyncio.Task] = []
    seen = 0
    deadline = asyncio.get_running_loop().time() + 1200  # minutes on a quiet machine, a stuck run or a machine many times overloaded
    while await settled_runs(engine, journey) < RUNS:
        assert asyncio.get_running_loop().time() < deadline, "the runs did not settle"
        for mail in await new_mail(engine, set(subjects.values()), seen):
            seen, person, node = mail["id"], by_address[mail["to"][0]], node_of[mail["subject"]]
            if person in leaving and node == "welcome":
                await send_events(api, {"contact": person, "name": "opt.out", "event_id": f"out-{person}"})
            tasks.append(asyncio.create_task(engage(node, person, mail)))
        await asyncio.sleep(0.5)
    await asyncio.gather(*tasks)
    states = await states_of(temporal_env, runs)
    resting = [p for p, s in states.items() if s.status == RunStatus.ACTIVE]
    assert all(states[p].current_node == "later" for p in resting)
    # Those leaving exit wherever they are, unless they had finished (a run slowed down that much).
    exited = {p for p, s in states.items() if s.status == RunStatus.EXITED}
    assert exited and exited <= leaving

    # Goals after the runs ended (or while they rest) still count within the window, for the
    # last message received: the welcome, or none for those without an address. Outside the
    # window they do not.
    others = [p for p in people if p not in leaving and p not in buyers]
    late_buyers, early_buyers = others[:1], others[1:2]
    other_buyers = [p for p in others[2:] if rng.random() < 0.2]
    now = datetime.now(timezone.utc)
    await send_events(api, *({"contact": p, "name": "purchase", "event_id": f"late-{p}", "properties": {"amount": 5},
                              "occurred_at": (now + timedelta(days=4)).isoformat()} for p in late_buyers),
                      *({"contact": p, "name": "purchase", "event_id": f"early-{p}", "properties": {"amount": 5},
                         "occurred_at": (now - timedelta(days=1)).isoformat()} for p in early_buyers))
    for chunk in range(0, len(other_buyers), 500):
        await send_events(api, *({"contact": p, "name": "purchase", "event_id": f"buy-{p}",
                                  "properties": {"amount": amounts[p]}} for p in other_buyers[chunk:chunk + 500]))
    # The last message received before buying is credited: the offer for those who bought at
    # `buys` (the thanks came after); for the others their run's last message sent, if any.
    credited = {p: "offer" for p in buyers} | {
        p: ([m.node for m in states[p].messages if m.status == MessageStatus.SENT] or [None])[-1] for p in other_buyers}
    attributed = Counter(node for node in credited.values() if node)
    revenue = Counter()
    for person, node in credited.items():
        if node:
            revenue[node] += amounts[person]
    converted = len(buyers) + len(other_buyers)

    response = await api.get(f"/v1/journeys/{journey}/funnel")
    assert response.status_code == 200, response.text
    funnel = response.json()
    expected = truth(states, opens, clicks)
    assert [n["id"] for n in funnel["nodes"]] == [n["id"] for n in shop(unique)["nodes"]]
    for node in funnel["nodes"]:
        want = expected.get(node["id"], {"entered": 0, "here": 0, "left": Counter(), "skipped": Counter(),
                                         "opens": {"unique": 0, "total": 0}, "clicks": {"unique": 0, "total": 0}})
        assert (node["entered"], node["here"], node["left"]) == (want["entered"], want["here"], dict(want["left"])), node
        if node["type"] == "send":
            send = node["send"]
            assert send["sent"] == want["left"]["sent"]
            assert send["skipped"] == {"total": sum(want["skipped"].values()), "by_reason": dict(want["skipped"])}
            assert (send["failed"], send["deferred"], send["bounces"], send["complaints"], send["unsubscribes"]) == (
                0, 0, 0, 0, 0)
            assert (send["opens"], send["clicks"]) == (want["opens"], want["clicks"]), node["id"]
            assert (send["conversions"], send["revenue"]) == (attributed[node["id"]], revenue[node["id"]]), node
    # Every way out was taken, so every kind of count was compared.
    assert expected["welcome"]["skipped"] and expected["later"]["here"]
    assert expected["engaged"]["left"]["then"] and expected["engaged"]["left"]["else"]
    assert expected["buys"]["left"]["event"] and expected["buys"]["left"]["timeout"]
    statuses = Counter(s.status for s in states.values())
    assert funnel["journey"] == {
        "entered": RUNS, "active": len(resting), "completed": statuses[RunStatus.COMPLETED], "cancelled": 0,
        "exited": {"total": len(exited), "by_reason": {"exit_on: opt.out": len(exited)}},
        "converted": converted, "conversion_rate": converted / RUNS,
        "revenue": sum(amounts[p] for p in buyers + other_buyers)}
    assert attributed["offer"] and attributed["welcome"] and converted > sum(attributed.values())

    # A time range selects runs by when they entered: these all entered in the last hour, on version 1.
    hour = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat(), "version": 1}
    within = (await api.get(f"/v1/journeys/{journey}/funnel", params=hour)).json()
    assert (within["journey"], within["nodes"]) == (funnel["journey"], funnel["nodes"])
    later = (await api.get(f"/v1/journeys/{journey}/funnel", params={"from": (now + timedelta(days=1)).isoformat()})).json()
    assert later["journey"]["entered"] == later["journey"]["converted"] == 0
    assert all(n["entered"] == 0 and (n["send"] is None or n["send"]["opens"]["total"] == n["send"]["conversions"] == 0)
               for n in later["nodes"])

def two_mails(unique: str) -> dict:
    return {"name": "Two mails", "nodes": [
        {"id": "news", "type": "send", "subject": f"News {unique}",
         "html": '<p>News. <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>', "next": "more"},
        {"id": "more", "type": "send", "subject": f"More {unique}",
         "html": '<p>More. <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>', "next": "end"},
        {"id": "end", "type": "exit"}]}


async def test_unsubscribes_count_once_for_the_send_they_came_through(api, worker, engine, temporal_env,
                                                                     settings, unique):
    journey = f"unsub-{unique}"
    await create_active_journey(api, journey, two_mails(unique))
    people = {name: f"{name}-{unique}" for name in ("link", "webhook", "stays")}
    for person in people.values():
        await add_contact(api, person, f"{person}@example.com")
    for run in await enroll(api, journey, *people.values()):
        await finished(temporal_env, run["workflow_id"])

    def unsubscribe_path(mail: dict) -> str:
        return re.search(r'href="http://sojourn\.test(/u/[^"]+)"', mail["html"]).group(1)

    # The page, its button, then the mail client's one-click POST: one unsubscribe, on `news`.
    news, _ = await wait_for_mail(engine, f"{people['link']}@example.com", 2)
    assert news["subject"] == f"News {unique}"
    assert (await api.get(unsubscribe_path(news))).status_code == 200
    assert (await api.post(unsubscribe_path(news))).status_code == 200
    one_click = await api.post(unsubscribe_path(news), content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert one_click.status_code == 200
    # A provider reports an unsubscribe from `more`, twice: stored once.
    await wait_for_mail(engine, f"{people['webhook']}@example.com", 2)
    async with engine.connect() as conn:
        [message_id] = (await conn.execute(select(Message.id).where(
            Message.journey_id == journey, Message.node_id == "more",
            Message.recipient == f"{people['webhook']}@example.com"))).scalars().all()
    report = {"message_id": str(message_id), "type": "unsubscribed", "timestamp": datetime.now(timezone.utc).isoformat()}
    for _ in range(2):
        response = await post_webhook(api, settings.webhook_secret, [report])
        assert response.status_code == 200, response.text
    assert response.json()["results"] == [{"index": 0, "status": "duplicate"}]

    funnel = (await api.get(f"/v1/journeys/{journey}/funnel")).json()
    assert {n["id"]: n["send"]["unsubscribes"] for n in funnel["nodes"] if n["send"]} == {"news": 1, "more": 1}
    async with engine.connect() as conn:
        consents = dict((await conn.execute(
            select(Contact.external_id, ContactConsent.status).join(ContactConsent, ContactConsent.contact_id == Contact.id)
            .where(Contact.external_id.in_(people.values())))).all())
    assert consents == {people["link"]: "unsubscribed", people["webhook"]: "unsubscribed"}


async def test_a_range_edge_takes_a_run_and_its_steps_together(api, worker, engine, unique):
    journey, person = f"edge-{unique}", f"edge-{unique}"
    await create_active_journey(api, journey, follow_up(unique))
    await add_contact(api, person, f"{person}@example.com")
    [run] = await enroll(api, journey, person)
    assert len(await steps_until(engine, run["run_id"], 2)) == 2  # resting in the pause
    async with engine.connect() as conn:
        entered = (await conn.execute(select(JourneyRun.enrolled_at).where(JourneyRun.run_id == run["run_id"]))).scalar()
    tick = timedelta(microseconds=1)

    async def counted(since: datetime, until: datetime) -> tuple[int, int]:
        params = {"from": since.isoformat(), "to": until.isoformat()}
        funnel = (await api.get(f"/v1/journeys/{journey}/funnel", params=params)).json()
        return funnel["journey"]["entered"], sum(n["entered"] for n in funnel["nodes"])

    # [from, to): a run that entered at `from` is in, one that entered at `to` is out, with its steps.
    assert await counted(entered, entered + tick) == (1, 2)
    assert await counted(entered - tick, entered) == (0, 0)
    assert await counted(entered + tick, entered + timedelta(hours=1)) == (0, 0)
