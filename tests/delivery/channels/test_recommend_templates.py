"""Predictions, tags and `recommend(n)` in templates: a real email through the SMTP sink shows
three recommended products the contact has not bought (the day's recommendations scored for
real), an SMS and a push render them too, preview shows them, a contact without recommendations
gets the popular products, and a literal bad n is refused when the journey is validated."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from recommend_shop import DAY, add_events, planted_shop
from sqlalchemy import text

from sojourn.services.recommendations import score_recommendations

from helpers import create_active_journey, enroll, finished, put_contact, wait_for_mail

AS_OF = datetime(2026, 8, 1, tzinfo=timezone.utc)
PRODUCTS = "{% for p in recommend(3) %}[{{ p.name }} {{ p.price | money(p.currency) }} {{ p.url }}]{% endfor %}"


async def scored_shop(api, engine, settings, unique: str) -> dict:
    """The planted shop, a contact `buyer-<unique>` who bought p4 and viewed p7 (its
    recommendations: p5 first, never p4), and the day scored."""
    purchase = f"purchase-{unique}"
    as_of = AS_OF + timedelta(seconds=random.randrange(86_400))
    shop = await planted_shop(engine, unique, purchase, as_of)
    await put_contact(api, f"buyer-{unique}", first_name="Bea", email=f"buyer-{unique}@example.com",
                      phone="+12015550123", push_token=f"fcm-buyer-{unique}", consent={"sms": "subscribed"})
    async with engine.begin() as conn:
        buyer = (await conn.execute(text("SELECT id FROM contacts WHERE external_id = :e"),
                                    {"e": f"buyer-{unique}"})).scalar_one()
        await conn.execute(text(
            "INSERT INTO contact_predictions (contact_id, name, value, model, model_version)"
            " VALUES (:c, 'ltv.expected_value', 123.456, 'ltv', 1)"), {"c": buyer})
        await conn.execute(text("INSERT INTO contact_tags (contact_id, tag, weight, source)"
                                " VALUES (:c, 'affinity:topic:sun-care', 0.8, 'model:affinity')"), {"c": buyer})
    skus = shop["skus"]
    await add_events(engine, f"{unique}-buyer", [(buyer, purchase, skus[4], as_of - 2 * DAY),
                                                 (buyer, "viewed_product", skus[7], as_of - 3 * DAY)])
    run = await score_recommendations(engine, as_of, settings.model_copy(update={"purchase_event": purchase}))
    assert run.reason is None, run
    return {**shop, "buyer": buyer}


def names(shop: dict, *numbers: int) -> list[str]:
    return [f"Product {shop['skus'][n]}" for n in numbers]


async def test_recommended_products_go_out_by_email_sms_and_push(api, worker, engine, temporal_env, settings, providers,
                                                                 unique):
    shop = await scored_shop(api, engine, settings, unique)
    journey = f"recommended-{unique}"
    await create_active_journey(api, journey, {"name": "recommended", "nodes": [
        {"id": "email", "type": "send", "subject": "Picked for {{ first_name }}",
         "text": "Value {{ predictions['ltv.expected_value'] | round(2) }}"
                 "{% if tags['affinity:topic:sun-care'] > 0.5 %} sun{% endif %}"
                 "{% if tags['affinity:topic:never'] > 0.5 %} never{% endif %}\n" + PRODUCTS, "next": "sms"},
        {"id": "sms", "type": "send", "channel": "sms",
         "sms": {"text": "{% for p in recommend(2) %}{{ p.name }};{% endfor %}"}, "next": "push"},
        {"id": "push", "type": "send", "channel": "push",
         "push": {"title": "For you", "body": "{{ recommend(1)[0].name }}"}, "next": "end"},
        {"id": "end", "type": "exit"},
    ]})
    [run] = await enroll(api, journey, f"buyer-{unique}")
    state = await finished(temporal_env, run["workflow_id"])
    assert [(m.node, m.status) for m in state.messages] == [("email", "sent"), ("sms", "sent"), ("push", "sent")]
    [mail] = await wait_for_mail(engine, f"buyer-{unique}@example.com")
    value, products = mail["text"].strip().split("\n")
    assert value == "Value 123.46 sun"
    shown = products.strip("[]").split("][")
    assert len(shown) == 3
    skus = shop["skus"]
    assert shown[0] == f"Product {skus[5]} $16.00 https://shop.example/{skus[5]}"
    assert not any(f"Product {skus[4]} " in product for product in shown)  # bought: never recommended
    assert len({product.split(" ")[1] for product in shown}) == 3
    [sms] = providers.sms.accepted
    assert sms.form()["Body"] == ";".join(names(shop, 5) + [shown[1].split(" $")[0]]) + ";"
    [push] = providers.push.accepted
    assert push.json()["message"]["notification"]["body"] == f"Product {skus[5]}"


async def test_preview_shows_recommendations_and_a_newcomer_gets_popular_products(api, engine, settings, providers,
                                                                                  unique):
    shop = await scored_shop(api, engine, settings, unique)
    await put_contact(api, f"new-{unique}", email=f"new-{unique}@example.com")
    journey = f"recommended-preview-{unique}"
    await create_active_journey(api, journey, {"name": "preview", "nodes": [
        {"id": "email", "type": "send", "subject": "For you", "text": PRODUCTS, "next": "end"},
        {"id": "end", "type": "exit"}]})
    for contact, first in ((f"buyer-{unique}", 5), (f"new-{unique}", 18)):
        answer = await api.post(f"/v1/journeys/{journey}/preview", json={"node": "email", "contact": contact})
        assert answer.status_code == 200, answer.text
        text_ = answer.json()["messages"]["email"]["payload"]["text"]
        assert text_.startswith(f"[Product {shop['skus'][first]} "), text_
        assert text_.count("[") == 3


async def test_a_literal_bad_n_is_refused_when_the_journey_is_validated(api, unique):
    for bad in ("0", "1000", "'three'"):
        created = await api.post("/v1/journeys", json={"id": f"bad-n-{unique}", "definition": {"name": "bad", "nodes": [
            {"id": "email", "type": "send", "subject": "x",
             "text": "{% for p in recommend(" + bad + ") %}{{ p.name }}{% endfor %}", "next": "end"},
            {"id": "end", "type": "exit"}]}})
        assert created.status_code == 422, created.text
        assert "recommend(n): n must be a whole number from 1 to 50" in created.text, created.text
