"""Opening the unsubscribe page is not a click: its link is never rewritten into a tracked one."""

from __future__ import annotations

import re
from datetime import timedelta

from sojourn.contracts.journey import JourneyState

from helpers import add_contact, advance, create_active_journey, enroll, finished, wait_for_mail


def _thanks_for_clicking(unique: str) -> dict:
    return {"name": "Thanks for clicking", "nodes": [
        {"id": "offer", "type": "send", "subject": f"Offer {unique}",
         "html": '<p><a href="https://shop.example/sale">Sale</a> '
                 "<a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>", "next": "clicked"},
        {"id": "clicked", "type": "wait_for", "event": {"clicked": "offer"}, "timeout": "3d",
         "on_event": "thanks", "on_timeout": "end"},
        {"id": "thanks", "type": "send", "subject": f"Thanks for clicking {unique}", "text": "ok", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def test_opening_the_unsubscribe_page_does_not_take_the_clicked_branch(api, worker, engine, temporal_env,
                                                                            unique):
    journey, contact, email = f"unsub-{unique}", f"u-{unique}", f"u-{unique}@example.com"
    await create_active_journey(api, journey, _thanks_for_clicking(unique))
    await add_contact(api, contact, email)
    [run] = await enroll(api, journey, contact)
    [mail] = await wait_for_mail(engine, email)

    unsubscribe = re.search(r"""<a href=["']([^"']+)["']>Unsubscribe</a>""", mail["html"]).group(1)
    assert unsubscribe.startswith("http://sojourn.test/u/"), unsubscribe
    assert "/t/c/" in mail["html"]  # the other link is still tracked
    page = await api.get(unsubscribe.removeprefix("http://sojourn.test"), follow_redirects=True)
    assert page.status_code == 200 and "unsubscribe" in page.text.lower()

    handle = temporal_env.client.get_workflow_handle(run["workflow_id"])
    assert (await handle.query("state", result_type=JourneyState)).engagements == []
    await advance(temporal_env, run["workflow_id"], timedelta(days=3, minutes=1))
    state = await finished(temporal_env, run["workflow_id"])
    assert [step.node for step in state.path] == ["offer", "clicked", "end"]
    assert [m["subject"] for m in await wait_for_mail(engine, email, 2, timeout=1)] == [f"Offer {unique}"]
