"""Migration 0008 removes the provider repeats stored before it (keeping the first of each) and
leaves a person's repeated opens alone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import make_url

from sojourn.data import db


async def test_0008_keeps_one_of_each_repeated_webhook(engine, database_url, unique):
    name = f"migration_{unique}"
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text(f"CREATE DATABASE {name}"))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(db.upgrade, url, "0007")
    scratch = db.create_engine(url, pool_size=2)
    try:
        message = uuid.uuid4()
        async with scratch.begin() as conn:
            contact = await conn.scalar(text("INSERT INTO contacts (external_id) VALUES ('m') RETURNING id"))
            await conn.execute(text(
                "INSERT INTO messages (id, idempotency_key, workflow_id, journey_id, journey_version, node_id,"
                " contact_id, channel, status, transactional, priority)"
                " VALUES (:id, 'k', 'w', 'j', 1, 'n', :contact, 'email', 'sent', false, 0)"),
                {"id": message, "contact": contact})
            events = (
                [("opened", None, "webhook", "2026-01-01T00:00:00Z")] * 5
                + [("clicked", "https://shop.example/a", "webhook", "2026-01-01T00:01:00Z")] * 3
                + [("clicked", "https://shop.example/b", "webhook", "2026-01-01T00:01:00Z")]
                + [("opened", None, "pixel", "2026-01-01T00:02:00Z")] * 2)
            await conn.execute(text(
                "INSERT INTO engagement_events (message_id, type, url, source, occurred_at)"
                " VALUES (:message, :type, :url, :source, :at)"),
                [{"message": message, "type": t, "url": u, "source": s, "at": datetime.fromisoformat(at)}
                 for t, u, s, at in events])
        await asyncio.to_thread(db.upgrade, url, "0008")
        async with scratch.connect() as conn:
            kept = (await conn.execute(text(
                "SELECT type, url, source, automated FROM engagement_events ORDER BY id"))).all()
        assert [tuple(row) for row in kept] == [
            ("opened", None, "webhook", False),
            ("clicked", "https://shop.example/a", "webhook", False),
            ("clicked", "https://shop.example/b", "webhook", False),
            ("opened", None, "pixel", False),
            ("opened", None, "pixel", False)]
    finally:
        await scratch.dispose()
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text(f"DROP DATABASE {name}"))
