"""A process's connections to Postgres: opened as needed up to the pool's size and kept, so a
steady load past the pool waits for a connection instead of opening and closing one each time."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text

from sojourn.data import db


async def test_a_load_past_the_pool_reuses_its_connections(database_url: str):
    engine = db.create_engine(database_url, pool_size=3)
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda connection, record: opened.append(connection))

    async def query(n: int) -> int:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT CAST(:n AS int) FROM pg_sleep(0.005)"), {"n": n})).scalar_one()

    try:
        for round_ in range(20):  # twice the pool's size in flight, round after round
            numbers = range(round_ * 6, round_ * 6 + 6)
            assert await asyncio.gather(*(query(n) for n in numbers)) == list(numbers)
    finally:
        await engine.dispose()
    assert len(opened) == 3
