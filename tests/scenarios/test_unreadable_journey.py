"""A journey version the engine cannot read (stored before a rule it breaks existed, or written
past the API) is skipped, with a warning, by the triggers of every other journey: one bad row
must not stop events from starting and steering the rest."""

from __future__ import annotations

import logging

from sqlalchemy import text
from test_event_journeys import send_events

from helpers import add_contact, create_active_journey, wait_for_mail


async def test_an_unreadable_journey_does_not_stop_events_starting_the_others(api, engine, worker, unique, caplog):
    broken = f"broken-{unique}"
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO journeys (id, name, status, latest_version) VALUES (:id, 'Broken', 'active', 1)"),
                           {"id": broken})
        await conn.execute(text("INSERT INTO journey_versions (journey_id, version, definition) VALUES "
                                "(:id, 1, CAST(:definition AS jsonb))"),
                           {"id": broken, "definition": '{"name": "Broken", "nodes": [{"id": "a", "type": "send"}]}'})
    try:
        journey, person = f"welcome-back-{unique}", f"back-{unique}"
        await create_active_journey(api, journey, {"name": "Welcome back", "entry": {"event": f"returned.{unique}"},
                                                   "nodes": [{"id": "hello", "type": "send", "subject": f"Back {unique}",
                                                              "text": "hi", "next": "end"},
                                                             {"id": "end", "type": "exit"}]})
        await add_contact(api, person, f"{person}@example.com")
        with caplog.at_level(logging.WARNING, logger="sojourn.services.triggers"):
            await send_events(api, {"contact": person, "name": f"returned.{unique}"})
        [mail] = await wait_for_mail(engine, f"{person}@example.com")
        assert mail["subject"] == f"Back {unique}"
        assert any(broken in record.getMessage() and "cannot be read" in record.getMessage()
                   for record in caplog.records), [r.getMessage() for r in caplog.records]
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM journey_versions WHERE journey_id = :id"), {"id": broken})
            await conn.execute(text("DELETE FROM journeys WHERE id = :id"), {"id": broken})
