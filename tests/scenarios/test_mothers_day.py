"""Scenario 1 end to end through the HTTP API: engagement through the pixel, the
tracked link and the provider webhook steers each contact's branches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from helpers import (
    EVENT_URL,
    add_contact,
    advance,
    create_active_journey,
    enroll,
    mothers_day,
    post_webhook,
    tracking_path,
    wait_for_mail,
)

PREVIEW = "Preview: our Mother's Day event starts May 1"
STARTED = "The event has started"
LAST_DAYS = "Last days: the event ends soon"
THANKS = "Thank you"


async def test_mothers_day_branches_on_engagement(api, worker, engine, temporal_env, settings, unique):
    journey = f"mothers-day-{unique}"
    people = {
        "alice": f"alice-{unique}@example.com",  # opens A (pixel), clicks B's link: the whole series
        "bob": f"bob-{unique}@example.com",      # opens nothing: the re-worded A'
        "carol": f"carol-{unique}@example.com",  # opens A (webhook), ignores B: ends after B
    }
    for name, email in people.items():
        await add_contact(api, f"{name}-{unique}", email, first_name=name.title())
    await create_active_journey(api, journey, mothers_day())
    results = await enroll(api, journey, *(f"{name}-{unique}" for name in people))
    assert [r["status"] for r in results] == ["started"] * 3, [r.get("error") for r in results]
    runs = {name: r["workflow_id"] for name, r in zip(people, results)}

    previews = {name: (await wait_for_mail(engine, email))[0] for name, email in people.items()}
    assert {m["subject"] for m in previews.values()} == {PREVIEW}
    assert "Hi Alice," in previews["alice"]["html"]

    pixel = await api.get(tracking_path(previews["alice"]["html"], "o"))
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    again = await api.get(tracking_path(previews["alice"]["html"], "o"))  # a repeat open: recorded, not re-signalled
    assert again.status_code == 200
    hook = await post_webhook(api, settings.webhook_secret, [{
        "message_id": previews["carol"]["message_id"], "type": "opened",
        "timestamp": datetime.now(timezone.utc).isoformat()}])
    assert hook.status_code == 200 and hook.json()["results"] == [{"index": 0, "status": "recorded"}]

    for run in runs.values():
        await advance(temporal_env, run, timedelta(days=2, minutes=1))

    alice_mail = await wait_for_mail(engine, people["alice"], 2)
    bob_mail = await wait_for_mail(engine, people["bob"], 2)
    carol_mail = await wait_for_mail(engine, people["carol"], 2)
    assert [m["subject"] for m in alice_mail] == [PREVIEW, STARTED]
    assert [m["subject"] for m in bob_mail] == [PREVIEW, "Bob, our Mother's Day event starts soon"]
    assert "Dear Bob," in bob_mail[1]["html"]  # legacy %name% placeholder
    assert [m["subject"] for m in carol_mail] == [PREVIEW, STARTED]

    click = await api.get(tracking_path(alice_mail[1]["html"], "c"), follow_redirects=False)
    assert click.status_code == 302 and click.headers["location"] == EVENT_URL

    for name in ("alice", "carol"):
        await advance(temporal_env, runs[name], timedelta(days=5, minutes=1))
    alice_mail = await wait_for_mail(engine, people["alice"], 3)
    assert [m["subject"] for m in alice_mail] == [PREVIEW, STARTED, LAST_DAYS]
    await advance(temporal_env, runs["alice"], timedelta(days=3, minutes=1))
    alice_mail = await wait_for_mail(engine, people["alice"], 4)
    assert [m["subject"] for m in alice_mail] == [PREVIEW, STARTED, LAST_DAYS, THANKS]
    assert "feedback form" in alice_mail[3]["html"]

    for name in people:
        handle = temporal_env.client.get_workflow_handle(runs[name])
        await handle.result()
        run = (await api.get(f"/v1/journeys/{journey}/runs/{name}-{unique}")).json()
        assert run["execution_status"] == "COMPLETED"
        assert run["state"]["status"] == "completed"
    carol_mail = await wait_for_mail(engine, people["carol"], 3, timeout=1)
    assert [m["subject"] for m in carol_mail] == [PREVIEW, STARTED]
    bob_mail = await wait_for_mail(engine, people["bob"], 3, timeout=1)
    assert len(bob_mail) == 2

    alice_run = (await api.get(f"/v1/journeys/{journey}/runs/alice-{unique}")).json()
    path = [(step["node"], step["outcome"]) for step in alice_run["state"]["path"]]
    assert path == [("preview", "sent"), ("wait_2d", None), ("opened_preview", "then"), ("started", "sent"),
                    ("wait_5d", None), ("opened_started", "then"), ("last_days", "sent"), ("wait_3d", None),
                    ("thanks", "sent"), ("end", None)]
    assert [m["status"] for m in alice_run["state"]["messages"]] == ["sent"] * 4
