"""Two sends of a budgeted journey decided at once: the second waits for the first to record
itself, then counts it. Without the lock both would see the same spend and both go."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import insert, select

from sojourn.data.models import Contact, Message
from sojourn.delivery.budgets import budget_refusal

BUDGET = {"amount": 0.01, "period": "total"}
COST = Decimal("0.0079")


async def test_the_second_send_waits_for_the_first_and_counts_it(engine, unique):
    journey = f"budget-lock-{unique}"
    async with engine.begin() as conn:
        contact = (await conn.execute(insert(Contact).values(external_id=f"lock-{unique}").returning(Contact.id))
                   ).scalar_one()
    now = datetime.now(UTC)

    async def decide(key: str, first_recorded: asyncio.Event | None = None) -> str | None:
        async with engine.begin() as conn:
            refusal = await budget_refusal(conn, BUDGET, journey, key, COST, "USD", now)
            if refusal is None:
                await conn.execute(insert(Message).values(
                    id=uuid.uuid4(), idempotency_key=key, workflow_id=key, journey_id=journey, journey_version=1,
                    node_id="offer", contact_id=contact, channel="sms", status="sending", units=1, cost=COST))
            if first_recorded is not None:
                first_recorded.set()
                await asyncio.sleep(0.5)  # the second decision is asked for meanwhile
            return refusal

    recorded = asyncio.Event()
    first = asyncio.create_task(decide(f"{journey}/a", recorded))
    await recorded.wait()
    second = await decide(f"{journey}/b")
    assert await first is None
    assert second == "budget: 0.0079 of 0.01 USD spent; this message costs 0.0079"
    async with engine.connect() as conn:
        assert (await conn.execute(select(Message.idempotency_key).where(Message.journey_id == journey))
                ).scalars().all() == [f"{journey}/a"]
