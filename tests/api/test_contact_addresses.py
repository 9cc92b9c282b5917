"""Phone numbers are stored in E.164 and email addresses checked, on every way a contact enters."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sojourn.data.models import Contact
from sojourn.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_phone_region": "TW"})


async def _stored(engine, external_id: str) -> Contact | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(Contact).where(Contact.external_id == external_id))).one_or_none()


@pytest.mark.parametrize("written", ["0912-345-678", "0912 345 678", "+886 912 345 678", "+886-912-345678"])
async def test_put_stores_phone_numbers_in_e164(api, engine, unique, quiet_triggers, written):
    response = await api.put(f"/v1/contacts/p-{unique}", json={"phone": written})
    assert response.status_code == 201, response.text
    assert response.json()["phone"] == "+886912345678"
    assert (await _stored(engine, f"p-{unique}")).phone == "+886912345678"


async def test_a_number_without_country_code_needs_the_default_region(api, settings, unique, quiet_triggers):
    settings.default_phone_region = None
    response = await api.put(f"/v1/contacts/p-{unique}", json={"phone": "0912-345-678"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"][0]["field"] == "phone"
    assert "DEFAULT_PHONE_REGION" in error["message"]
    # A number with its country code needs no region.
    ok = await api.put(f"/v1/contacts/p-{unique}", json={"phone": "+1 (201) 555-0123"})
    assert ok.status_code == 201 and ok.json()["phone"] == "+12015550123"


@pytest.mark.parametrize(("field", "value"), [
    ("phone", "12"), ("phone", "call me"), ("phone", "+1 555 000 1111"),  # too short, no number, no such area code
    ("email", "ann..lee@example.com"), ("email", "ann@shop.local"), ("email", "ann@shop.test"),
])
async def test_invalid_numbers_and_addresses_are_a_422_naming_the_field(api, engine, unique, quiet_triggers,
                                                                        field, value):
    response = await api.put(f"/v1/contacts/bad-{unique}", json={field: value})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == field
    assert await _stored(engine, f"bad-{unique}") is None


async def test_email_addresses_are_kept_as_given(api, unique, quiet_triggers):
    response = await api.put(f"/v1/contacts/e-{unique}", json={"email": "Ann.Lee@Example.COM"})
    assert response.status_code == 201 and response.json()["email"] == "Ann.Lee@Example.COM"


async def test_import_normalises_phones_and_rejects_bad_ones_by_line(api, engine, unique, quiet_triggers):
    p = f"imp-{unique}"
    body = (
        "external_id,phone,email\n"
        f"{p}-1,0912-345-678,\n"
        f"{p}-2,+33 6 12 34 56 78,\n"
        f"{p}-3,12,\n"
        f"{p}-4,,ann..lee@example.com\n"
    )
    response = await api.post("/v1/contacts/import", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == [
        {"line": 4, "reason": "phone: '12' is not a valid phone number"},
        {"line": 5, "reason": "email: not a valid email address: 'ann..lee@example.com'"},
    ]
    assert (await _stored(engine, f"{p}-1")).phone == "+886912345678"
    assert (await _stored(engine, f"{p}-2")).phone == "+33612345678"
