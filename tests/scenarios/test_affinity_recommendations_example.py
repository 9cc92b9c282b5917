"""examples/affinity-recommendations.yaml (awoo AMP): contacts with the affinity tag
`affinity:topic:sun-care` at 0.5 or more get an email with three of their recommended products,
sent in batches (the journey is one send), and one without recommendations gets the popular
products; a contact below 0.5 gets nothing."""

from __future__ import annotations

from pathlib import Path

import yaml
from recommend_shop import add_products
from sqlalchemy import text

from helpers import progress_until, put_contact, wait_for_mail

EXAMPLE = Path(__file__).parents[2] / "examples" / "affinity-recommendations.yaml"


async def test_sun_care_fans_get_three_recommended_products(api, worker, engine, unique):
    skus = await add_products(engine, unique, 6)
    people = {"fan": 0.8, "newfan": 0.6, "lukewarm": 0.3}
    for who in people:
        await put_contact(api, f"{who}-{unique}", email=f"{who}-{unique}@example.com", first_name=who.title(),
                          attributes={"example": unique})
    async with engine.begin() as conn:
        ids = dict((await conn.execute(text("SELECT external_id, id FROM contacts WHERE external_id = ANY(:e)"),
                                       {"e": [f"{who}-{unique}" for who in people]})).all())
        await conn.execute(text(
            "INSERT INTO contact_tags (contact_id, tag, weight, source)"
            " SELECT c, 'affinity:topic:sun-care', w, 'model:affinity'"
            " FROM unnest(CAST(:c AS bigint[]), CAST(:w AS float8[])) AS u(c, w)"),
            {"c": [ids[f"{who}-{unique}"] for who in people], "w": list(people.values())})
        await conn.execute(text(
            "INSERT INTO contact_recommendations (contact_id, rank, sku, score, model_version)"
            " SELECT :c, r, s, 1.0 / r, 1 FROM unnest(CAST(:s AS text[])) WITH ORDINALITY AS u(s, r)"),
            {"c": ids[f"fan-{unique}"], "s": [skus[3], skus[1], skus[4], skus[0]]})
        await conn.execute(text("DELETE FROM popular_products"))
        await conn.execute(text(
            "INSERT INTO popular_products (rank, sku, score, model_version) VALUES (1, :a, 9, 1), (2, :b, 8, 1),"
            " (3, :c, 7, 1), (4, :d, 6, 1)"), {"a": skus[5], "b": skus[2], "c": skus[0], "d": skus[1]})

    segment, journey = f"sun-care-fans-{unique}", f"affinity-recommendations-{unique}"
    assert (await api.post("/v1/segments", json={"id": segment, "name": "Sun care fans", "filter": {"and": [
        {"tag": "affinity:topic:sun-care", "min_weight": 0.5}, {"attribute": "example", "value": unique}]}})
            ).status_code == 201
    example = yaml.safe_load(EXAMPLE.read_text())
    example["id"], example["definition"]["entry"]["audience"] = journey, segment
    example["definition"].pop("quiet_hours")  # the test runs at any hour
    assert (await api.post("/v1/journeys", json=example)).status_code == 201
    assert (await api.post(f"/v1/journeys/{journey}/activate")).status_code == 200

    path = f"/v1/journeys/{journey}/segment-enrollments"
    assert (await api.post(path, json={"segment": segment, "enrollment_id": "friday"})).status_code in (200, 201, 202)
    done = await progress_until(api, f"{path}/friday", "completed")
    assert (done["mode"], done["sent"]) == ("batch", 2), done

    [fan] = await wait_for_mail(engine, f"fan-{unique}@example.com")
    assert fan["subject"] == "Fan, three picks for sunny days"
    assert [line for line in fan["text"].splitlines() if line.startswith("- ")] == [
        f"- Product {skus[n]}" for n in (3, 1, 4)]
    assert "our sun care regular" in fan["html"] and "/t/c/" in fan["html"]  # product links are tracked
    assert "NT$" not in fan["html"] and "$14.00" in fan["html"]  # priced in USD
    [newfan] = await wait_for_mail(engine, f"newfan-{unique}@example.com")
    assert [line for line in newfan["text"].splitlines() if line.startswith("- ")] == [
        f"- Product {skus[n]}" for n in (5, 2, 0)]
    assert "our sun care regular" not in newfan["html"]
    assert await wait_for_mail(engine, f"lukewarm-{unique}@example.com", timeout=0.5) == []
