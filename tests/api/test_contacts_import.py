"""POST /v1/contacts/import (streamed CSV and NDJSON through COPY) and `sojourn import`."""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from api.app import create_app
from sojourn.data.models import Contact
from sojourn.dev.postgres import free_port
from sojourn.services.triggers import Triggers

from helpers import API_KEY

CSV = {"Content-Type": "text/csv"}
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
def changed(monkeypatch) -> list[list[int]]:
    """The id lists the import hands to `on_contacts_changed`, one per committed chunk."""
    calls: list[list[int]] = []

    async def on_contacts_changed(self, contact_ids):
        calls.append(list(contact_ids))

    monkeypatch.setattr(Triggers, "on_contacts_changed", on_contacts_changed)
    return calls


def pieces(data: bytes, size: int = 777):
    """The body in small uneven pieces, so lines and quoted fields span chunk borders."""

    async def stream():
        for start in range(0, len(data), size):
            yield data[start:start + size]

    return stream()


async def _contacts(engine, prefix: str) -> dict[str, Contact]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Contact).where(Contact.external_id.startswith(prefix)))).all()
    return {row.external_id: row for row in rows}


async def test_csv_import_loads_good_rows_and_rejects_bad_ones_by_line(api, engine, unique, changed):
    p = f"csv-{unique}"
    body = (
        "external_id,email,first_name,time_zone,plan,notes\r\n"                            # line 1
        f"{p}-1,ann@example.com,Ann,Europe/Paris,gold,\r\n"                                # 2: empty note omitted
        f",nobody@example.com,No,,,\r\n"                                                   # 3: no external id
        f"{p}-2,not-an-email,Bob,,silver,\r\n"                                             # 4: bad email
        f"{p}-3,cy@example.com,Cy,,bronze\r\n"                                             # 5: 5 columns
        "\r\n"                                                                             # 6: blank, skipped
        f'{p}-4,dee@example.com,Dee,,gold,"two\r\nlines, and a ""quote"""\r\n'             # 7-8: one record
        f"{p}-5,eve@example.com,Eve,Mars/Olympus,,\r\n"                                    # 9: unknown zone
        f'{p}-6,fay@example.com,"F"ay,,,\r\n'                                              # 10: malformed quoting
        f"{p}-7,,,,,\r\n"                                                                  # 11: id only
    ).encode()
    response = await api.post("/v1/contacts/import", content=pieces(body, 50), headers=CSV)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["rejected"] == [
        {"line": 3, "reason": "external_id: required"},
        {"line": 4, "reason": "email: not a valid email address: 'not-an-email'"},
        {"line": 5, "reason": "expected 6 columns, got 5"},
        {"line": 9, "reason": "time_zone: unknown time zone 'Mars/Olympus'"},
        {"line": 10, "reason": "malformed CSV: ',' expected after '\"'"},
    ]
    assert {k: result[k] for k in ("rows", "inserted", "updated", "unchanged", "rejected_omitted")} == {
        "rows": 8, "inserted": 3, "updated": 0, "unchanged": 0, "rejected_omitted": 0}
    stored = await _contacts(engine, p)
    assert sorted(stored) == [f"{p}-1", f"{p}-4", f"{p}-7"]
    ann = stored[f"{p}-1"]
    assert (ann.email, ann.first_name, ann.time_zone, ann.attributes) == (
        "ann@example.com", "Ann", "Europe/Paris", {"plan": "gold"})
    assert stored[f"{p}-4"].attributes == {"plan": "gold", "notes": 'two\r\nlines, and a "quote"'}
    assert stored[f"{p}-7"].email is None and stored[f"{p}-7"].attributes == {}
    assert sorted(sum(changed, [])) == sorted(c.id for c in stored.values())


async def test_ndjson_import_keeps_json_types_and_rejects_bad_lines(api, engine, unique, changed):
    p = f"nd-{unique}"
    lines = [
        {"external_id": f"{p}-1", "email": "ann@example.com", "visits": 3, "vip": True, "tags": ["a", "b"],
         "address": {"city": "Lyon"}, "score": None},
        "{not json",
        ["an", "array"],
        {"email": "x@example.com"},
        {"external_id": 42, "phone": "+33 6 12 34 56 78"},
        {"external_id": f"{p}-3", "first_name": 7},
        "",
        {"external_id": f"{p}-4", "score": float("nan")},
    ]
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    response = await api.post("/v1/contacts/import", content=pieces(body.encode(), 31), headers=NDJSON)
    assert response.status_code == 200, response.text
    result = response.json()
    reasons = {r["line"]: r["reason"] for r in result["rejected"]}
    assert sorted(reasons) == [2, 3, 4, 6, 8]
    assert reasons[2].startswith("invalid JSON: ")
    assert reasons[3] == "each line must be a JSON object"
    assert reasons[4] == "external_id: required"
    assert reasons[6] == "first_name: must be a string"
    assert reasons[8] == "invalid JSON: NaN is not valid JSON"
    assert result["inserted"] == 2 and result["rows"] == 7
    stored = await _contacts(engine, p)
    assert stored[f"{p}-1"].attributes == {"visits": 3, "vip": True, "tags": ["a", "b"], "address": {"city": "Lyon"},
                                           "score": None}
    async with engine.connect() as conn:
        numeric = (await conn.execute(select(Contact).where(Contact.external_id == "42"))).one()
    assert numeric.phone == "+33612345678"  # stored in E.164


async def test_import_upserts_and_merges_attributes(api, engine, unique, changed):
    p = f"up-{unique}"
    await api.put(f"/v1/contacts/{p}-1", json={"email": "old@example.com", "first_name": "Ann",
                                               "attributes": {"plan": "gold", "visits": 3}})
    await api.put(f"/v1/contacts/{p}-2", json={"email": "same@example.com", "attributes": {"plan": "free"}})
    changed.clear()
    body = (f"external_id,email,first_name,plan,city\n"
            f"{p}-1,new@example.com,,silver,Lyon\n"   # email and plan change, first name kept, city added
            f"{p}-2,,,free,\n"                         # nothing new
            f"{p}-3,,Cy,,\n"                           # new contact
            f"{p}-3,cy@example.com,,,Paris\n")         # the same contact again: merged in file order
    result = (await api.post("/v1/contacts/import", content=body, headers=CSV)).json()
    assert {k: result[k] for k in ("rows", "inserted", "updated", "unchanged")} == {
        "rows": 4, "inserted": 1, "updated": 1, "unchanged": 1}
    stored = await _contacts(engine, p)
    one = stored[f"{p}-1"]
    assert (one.email, one.first_name) == ("new@example.com", "Ann")
    assert one.attributes == {"plan": "silver", "visits": 3, "city": "Lyon"}
    three = stored[f"{p}-3"]
    assert (three.email, three.first_name, three.attributes) == ("cy@example.com", "Cy", {"city": "Paris"})
    assert sorted(sum(changed, [])) == sorted([one.id, three.id])  # the unchanged contact is not reported

    again = (await api.post("/v1/contacts/import", content=body, headers=CSV)).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 3)


async def test_a_large_import_is_loaded_in_chunks(api, engine, unique, changed):
    p = f"big-{unique}"
    rows = 25_000
    lines = ["external_id,email,segment"]
    for i in range(rows):
        lines.append(f"{p}-{i},{'broken' if i % 20 == 7 else f'u{i}@example.com'},s{i % 7}")
    body = ("\n".join(lines) + "\n").encode()
    response = await api.post("/v1/contacts/import", content=pieces(body, 65_536), headers=CSV)
    result = response.json()
    bad = rows // 20
    assert (result["rows"], result["inserted"], len(result["rejected"]), result["rejected_omitted"]) == (
        rows, rows - bad, 1000, bad - 1000)
    assert result["rejected"][0] == {"line": 9, "reason": "email: not a valid email address: 'broken'"}
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(Contact)
                                    .where(Contact.external_id.startswith(f"{p}-")))).scalar_one()
    assert count == rows - bad
    assert [len(ids) for ids in changed] == [10_000, 10_000, rows - bad - 20_000]


async def test_import_refuses_what_it_cannot_read(api, settings, temporal_env, unique):
    response = await api.post("/v1/contacts/import", content=b'{"external_id": "x"}\n',
                              headers={"Content-Type": "application/json"})
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
    response = await api.post("/v1/contacts/import", content=b"id,email\n1,a@example.com\n", headers=CSV)
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "invalid_import", "details": [],
                                        "message": "the CSV header has no 'external_id' column"}
    response = await api.post("/v1/contacts/import", content=b"", headers=CSV)
    assert response.status_code == 422 and "no header row" in response.json()["error"]["message"]

    app = create_app(settings.model_copy(update={"max_import_body_bytes": 1000}), temporal=temporal_env.client)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sojourn.test",
            headers={"Authorization": f"Bearer {API_KEY}"}) as small:
        body = ("external_id\n" + "".join(f"big-{unique}-{i}\n" for i in range(200))).encode()
        response = await small.post("/v1/contacts/import", content=body, headers=CSV)
        assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
        response = await small.post("/v1/contacts/import", content=pieces(body, 100), headers=CSV)
        assert response.status_code == 413  # streamed without a length: counted as it arrives


async def test_the_import_command_streams_a_file_with_a_progress_bar(settings, temporal_env, engine, unique,
                                                                     tmp_path, changed):
    p = f"cli-{unique}"
    path = tmp_path / "contacts.csv"
    path.write_text("external_id,email,plan\n" + "".join(f"{p}-{i},u{i}@example.com,gold\n" for i in range(3000))
                    + f"{p}-x,nope,gold\n")
    port = free_port()
    app = create_app(settings, temporal=temporal_env.client)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sojourn.cli", "import", str(path), "--api", f"http://127.0.0.1:{port}",
            "--key", API_KEY, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        server.should_exit = True
        await serving
    assert process.returncode == 2, (out, err)  # loaded, with rejected rows
    assert "100%" in err.decode() and f"{path.stat().st_size:,}" in err.decode()
    text = out.decode()
    assert "3,001 rows: 3,000 inserted, 0 updated, 0 unchanged, 1 rejected" in text
    assert "line 3002: email: not a valid email address: 'nope'" in text
    assert len(await _contacts(engine, p)) == 3000
