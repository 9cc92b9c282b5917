"""The counts kept as rows move (migration 0016) answer every funnel exactly as counting the raw
rows does: after random step writes and their retries, runs recorded after their steps, ends,
repeated opens and unsubscribes, test sends, link scanners, conversions and their replacement,
and the erasure of contacts (whose history leaves the funnel, as their rows leave the tables);
for ranges whose edges fall inside a day as for whole days."""

from __future__ import annotations

import importlib.util
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.contracts.steps import RunSteps, Step
from sojourn.data import conversions
from sojourn.data.models import Contact, Journey, JourneyRun, JourneyVersion, Message
from sojourn.data.steps import align_steps, write_steps
from sojourn.dsl.definition import JourneyDefinition
from sojourn.services import engagement
from sojourn.services import funnels as service

MIGRATION = Path(__file__).parents[2] / "sojourn/data/migrations/versions/0016_funnel_counts.py"
# Each counts table's key and counted columns (a key's rows are summed over the writers' shards).
COUNTS = {"funnel_step_counts": ("day, version, node_id, outcome, reason, here", "n"),
          "funnel_run_counts": ("day, version, status, exit_reason", "n"),
          "funnel_conversion_counts": ("day, version, node_id", "n, revenue"),
          "funnel_engagement_counts": ("day, version, node_id, kind", "uniques, total"),
          "funnel_engaged": ("message_id, kind, version, node_id, day", "")}
DAY0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
SHAPE = [("welcome", "send"), ("pause", "wait"), ("opened", "branch"), ("offer", "send"), ("end", "exit")]
WAYS = {"welcome": ["sent", "skipped", "failed"], "pause": [None], "opened": ["then", "else"],
        "offer": ["sent", "skipped", "deferred"], "end": [None]}
SKIPS = ["quiet hours", "frequency cap", "no consent"]


class NoSignals:
    def owed(self, due) -> None:
        pass


def definition() -> dict:
    """SHAPE as a journey the engine can read: the journey is active in the database every test
    shares, where each process's triggers read every active journey's definition."""
    return {"name": "Counted", "goal": {"event": "buys", "within": "30d", "value": "properties.amount"},
            "nodes": [{"id": "welcome", "type": "send", "subject": "Welcome", "text": "Hello.", "next": "pause"},
                      {"id": "pause", "type": "wait", "duration": "1d", "next": "opened"},
                      {"id": "opened", "type": "branch", "condition": {"opened": "welcome"}, "then": "offer",
                       "else": "end"},
                      {"id": "offer", "type": "send", "subject": "Offer", "text": "10% off.", "next": "end"},
                      {"id": "end", "type": "exit"}]}


def test_the_counted_journey_is_one_the_engine_reads():
    # A stored definition the engine cannot read stopped every event and segment entry of the
    # processes sharing the database (their journey index failed to build).
    parsed = JourneyDefinition.model_validate(definition())
    assert [(node.id, node.type) for node in parsed.nodes] == SHAPE


async def raw_funnel(session: AsyncSession, where, monkeypatch) -> dict:
    """The reference: the same funnel with every day counted from the raw rows."""
    with monkeypatch.context() as patched:
        patched.setattr(service, "split", lambda scope: (None, [scope]))
        return await service.funnel(session, where)


def steps_of(rng: random.Random, entered: datetime) -> list[Step]:
    """A random path through SHAPE; the last step reached may still be open."""
    steps, at = [], entered
    for seq, (node, kind) in enumerate(SHAPE, start=1):
        way = rng.choice(WAYS[node])
        if seq == len(SHAPE) or rng.random() < 0.15:
            steps.append(Step(seq=seq, node=node, type=kind, entered_at=at.isoformat(),
                              outcome="deferred" if way == "deferred" else None))
            return steps
        if way == "deferred":
            way = "sent"
        steps.append(Step(seq=seq, node=node, type=kind, entered_at=at.isoformat(),
                          left_at=(at + timedelta(minutes=5)).isoformat(), outcome=way,
                          reason=rng.choice(SKIPS) if way == "skipped" else None))
        if way in ("skipped", "failed") and rng.random() < 0.5:
            return steps
        at += timedelta(hours=rng.randint(1, 20))
    return steps


async def test_the_counts_answer_as_the_raw_rows_do(engine, unique, monkeypatch):
    rng = random.Random(12)
    journey = f"counted-{unique}"
    async with AsyncSession(engine, expire_on_commit=False) as session:
        session.add(Journey(id=journey, name="Counted", status="active", latest_version=2))
        await session.flush()
        session.add_all([JourneyVersion(journey_id=journey, version=v, definition=definition()) for v in (1, 2)])
        people = [Contact(external_id=f"{unique}-{i}") for i in range(60)]
        session.add_all(people)
        await session.commit()
        contacts = [person.id for person in people]

    async def record_run(run_id: str, workflow: str, version: int, contact: int, entered: datetime) -> None:
        async with AsyncSession(engine) as session:
            session.add(JourneyRun(run_id=run_id, workflow_id=workflow, journey_id=journey, version=version,
                                   contact_id=contact, enrolled_at=entered))
            await session.commit()

    runs = []
    for i, contact in enumerate(contacts):
        run_id = f"run-{unique}-{i}"
        workflow = f"journey:{journey}:{contact}"
        entered = DAY0 + timedelta(hours=rng.randint(0, 4 * 24 - 1), minutes=rng.randint(0, 59))
        version = rng.choice((1, 2))
        steps = steps_of(rng, entered)
        recorded_late = rng.random() < 0.2  # steps written before the API recorded the run
        started = (entered - timedelta(seconds=3)).isoformat()
        if not recorded_late:
            await record_run(run_id, workflow, version, contact, entered)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            # First the steps as the run rests at each, then all of them, then a retry of both.
            opened = [Step(seq=s.seq, node=s.node, type=s.type, entered_at=s.entered_at,
                           outcome=s.outcome if s.left_at is None else None) for s in steps]
            for written in (opened, steps, opened[-1:] if rng.random() < 0.1 else steps, steps):
                await write_steps(conn, RunSteps(run_id=run_id, journey_id=journey, version=version, contact_id=contact,
                                                 started_at=started, steps=written))
        if recorded_late:
            await record_run(run_id, workflow, version, contact, entered)
            async with AsyncSession(engine) as session:
                await align_steps(session, [run_id])
                await session.commit()
        runs.append((run_id, workflow, contact, version, entered, steps))

    # Messages of the sends that went out, and what people (and scanners) did with them.
    async with AsyncSession(engine) as session:
        for run_id, workflow, contact, version, entered, steps in runs:
            for step in steps:
                if step.type != "send" or step.outcome != "sent":
                    continue
                sent = datetime.fromisoformat(step.entered_at)
                row = Message(idempotency_key=f"{workflow}/{run_id}/{step.node}/1", workflow_id=workflow,
                              journey_id=journey, journey_version=version, node_id=step.node, contact_id=contact,
                              status="sent", test=rng.random() < 0.1, created_at=sent, sent_at=sent)
                session.add(row)
                await session.flush()
                message = await engagement.find_message(session, row.id)
                for kind in ("delivered", "opened", "opened", "clicked", "bounced", "opened"):
                    if rng.random() < 0.5:
                        at = sent + timedelta(minutes=rng.randint(10, 600))
                        await engagement.record(session, NoSignals(), message, kind, "webhook", occurred_at=at,
                                                automated=kind == "clicked" and rng.random() < 0.3)
                        # The provider's retry of the same event, stored once.
                        await engagement.record(session, NoSignals(), message, kind, "webhook", occurred_at=at)
                if rng.random() < 0.2:
                    for _ in range(2):  # the link and the provider's report: one unsubscribe
                        await engagement.record_unsubscribe(session, message, "link")
                        await session.commit()

    # Run ends, conversions (and an earlier goal event replacing one), then erasure.
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        pg = raw.driver_connection
        for run_id, workflow, contact, version, entered, steps in runs:
            if rng.random() < 0.5:
                status = rng.choice(["completed", "exited", "cancelled"])
                await pg.execute("UPDATE journey_runs SET status = $1, exit_reason = $2, ended_at = now() WHERE run_id = $3",
                                 status, rng.choice(["event", "goal"]) if status == "exited" else None, run_id)
            if rng.random() < 0.3:
                node = rng.choice([None, "welcome", "offer"])
                for shift in (5, 2):
                    await pg.execute(conversions._INSERT, run_id, journey, version, contact, entered, f"e-{run_id}-{shift}",
                                     entered + timedelta(hours=shift), rng.choice([None, Decimal(10), Decimal("25.5")]), None, node)
        await conn.commit()
    async with engine.begin() as conn:
        erased = rng.sample(contacts, 6)
        await conn.execute(text("DELETE FROM contacts WHERE id = ANY(:ids)"), {"ids": erased})

    midday = DAY0 + timedelta(days=1, hours=13, minutes=7)
    scopes = [
        service.scope(journey, None, None, None),
        service.scope(journey, 2, None, None),
        service.scope(journey, None, "2026-03-02", "2026-03-03"),  # whole days only
        service.scope(journey, None, midday.isoformat(), None),  # an edge inside a day
        service.scope(journey, 1, None, (midday + timedelta(days=1)).isoformat()),
        service.scope(journey, None, midday.isoformat(), (midday + timedelta(days=1, hours=5)).isoformat()),
        service.scope(journey, None, midday.isoformat(), (midday + timedelta(hours=3)).isoformat()),  # one day's part
    ]
    async with AsyncSession(engine) as session:
        whole = await service.funnel(session, scopes[0])
        assert whole["journey"]["entered"] == 54 and whole["nodes"][0]["send"]["opens"]["unique"] > 0
        for where in scopes:
            assert await service.funnel(session, where) == await raw_funnel(session, where, monkeypatch), where

    # An upgraded database: the migration's backfill builds the counts these writes kept.
    spec = importlib.util.spec_from_file_location("migration_0016", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    async with engine.connect() as conn:
        kept = await counted(conn, journey)
        for table in COUNTS:
            await conn.execute(text(f"DELETE FROM {table}"))
        for statement in migration._statements(migration._BACKFILL):
            await conn.execute(text(statement))
        assert await counted(conn, journey) == kept
        await conn.rollback()


async def counted(conn, journey: str) -> dict[str, list]:
    """The journey's counts in each table by key, zeros aside (a key whose rows all left)."""
    found = {}
    for table, (key, values) in COUNTS.items():
        sums = ", ".join(f"sum({v})" for v in values.split(", ")) if values else "count(*)"
        rows = await conn.execute(text(f"SELECT {key}, {sums} FROM {table} WHERE journey_id = :j GROUP BY {key}"
                                       f" HAVING ({sums}) <> ({', '.join(['0'] * len(sums.split(', ')))})"),
                                  {"j": journey})
        found[table] = sorted((tuple(row) for row in rows), key=repr)
    return found


@pytest.mark.parametrize(("since", "until", "days", "edges"), [
    (None, None, (None, None), []),
    ("2026-03-02", "2026-03-03", ("2026-03-02", "2026-03-04"), []),
    ("2026-03-02T13:00:00Z", None, ("2026-03-03", None), [("2026-03-02T13:00:00+00:00", "2026-03-03T00:00:00+00:00")]),
    (None, "2026-03-04T06:00:00Z", (None, "2026-03-04"), [("2026-03-04T00:00:00+00:00", "2026-03-04T06:00:00+00:00")]),
    ("2026-03-02T13:00:00Z", "2026-03-02T15:00:00Z", None, [("2026-03-02T13:00:00+00:00", "2026-03-02T15:00:00+00:00")]),
    ("2026-03-02T23:00:00-02:00", "2026-03-05T00:00:00Z", ("2026-03-04", "2026-03-05"),
     [("2026-03-02T23:00:00-02:00", "2026-03-04T00:00:00+00:00")]),
])
def test_a_range_is_whole_days_of_counts_and_its_edges_partial_days(since, until, days, edges):
    counted, partial = service.split(service.scope("j", None, since, until))
    assert (None if counted is None else tuple(d and d.isoformat() for d in (counted.first, counted.until))) == days
    assert [(e.since.isoformat(), e.until.isoformat()) for e in partial] == edges
