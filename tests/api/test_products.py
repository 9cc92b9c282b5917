"""The product catalogue: PUT /v1/products/{sku}, GET, list, DELETE, and the streamed import
(CSV and NDJSON, through the contacts import's reader and chunked upsert)."""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import text

from sojourn.data.products.load import import_products

from helpers import API_KEY

AUTH = {"Authorization": f"Bearer {API_KEY}"}
CSV = {**AUTH, "Content-Type": "text/csv"}
NDJSON = {**AUTH, "Content-Type": "application/x-ndjson"}


async def test_put_creates_then_replaces_and_reads_back(api, unique):
    sku = f"serum-{unique}"
    body = {"name": "玻尿酸保湿精华液", "description": "适合油性肌肤的清爽保湿精华", "category": "Skin care > Face > Serums",
            "brand": "Aqua", "price": "590", "currency": "twd", "attributes": {"skin_type": "oily", "ml": 30}}
    created = await api.put(f"/v1/products/{sku}", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["category"] == ["Skin care", "Face", "Serums"]
    assert Decimal(product["price"]) == Decimal("590") and product["currency"] == "TWD"
    assert product["attributes"] == {"skin_type": "oily", "ml": 30}

    again = await api.put(f"/v1/products/{sku}", json=body, headers=AUTH)
    assert again.status_code == 200 and again.json()["updated_at"] == product["updated_at"]

    # A PUT is the whole product: what it leaves out is cleared; a price without currency is USAGE_CURRENCY's.
    replaced = await api.put(f"/v1/products/{sku}", json={"name": "Hydrating serum", "price": 19.5}, headers=AUTH)
    assert replaced.status_code == 200
    read = (await api.get(f"/v1/products/{sku}", headers=AUTH)).json()
    assert (read["name"], read["category"], read["brand"], read["attributes"]) == ("Hydrating serum", [], None, {})
    assert (Decimal(read["price"]), read["currency"]) == (Decimal("19.5"), "USD")
    assert read["created_at"] == product["created_at"]


async def test_bad_fields_are_422s_naming_the_field(api, unique):
    cases = [
        ({"name": "x", "price": -1}, "price", "must not be negative"),
        ({"name": "x", "price": "twelve"}, "price", "not a number"),
        ({"name": "x", "price": "NaN"}, "price", "not a number"),
        ({"name": "x" * 501}, "name", "at most 500 characters"),
        ({"name": "x", "currency": "dollars"}, "currency", "ISO 4217"),
        ({"name": "x", "category": "Face >  > Serums"}, "category", "empty"),
    ]
    for body, field, message in cases:
        answer = await api.put(f"/v1/products/bad-{unique}", json=body, headers=AUTH)
        assert answer.status_code == 422, (body, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "invalid_product" and error["details"][0]["field"] == field, error
        assert message in error["message"], error
    nul = await api.put(f"/v1/products/bad-{unique}", json={"name": "a\x00b"}, headers=AUTH)
    assert nul.status_code == 422 and "NUL" in nul.text
    missing = await api.put(f"/v1/products/bad-{unique}", json={"price": 3}, headers=AUTH)
    assert missing.status_code == 422
    assert (await api.get(f"/v1/products/bad-{unique}", headers=AUTH)).status_code == 404


async def test_list_pages_and_delete(api, unique):
    for n in range(3):
        assert (await api.put(f"/v1/products/p{unique}-{n}", json={"name": f"P{n}"}, headers=AUTH)).status_code == 201
    seen, cursor = [], f"p{unique}-"
    while cursor is not None:
        page = (await api.get("/v1/products", params={"limit": 2, "cursor": cursor}, headers=AUTH)).json()
        seen += [item["sku"] for item in page["items"] if item["sku"].startswith(f"p{unique}-")]
        cursor = page["next_cursor"]
    assert seen == [f"p{unique}-0", f"p{unique}-1", f"p{unique}-2"]
    assert (await api.delete(f"/v1/products/p{unique}-1", headers=AUTH)).status_code == 204
    assert (await api.get(f"/v1/products/p{unique}-1", headers=AUTH)).status_code == 404
    assert (await api.delete(f"/v1/products/p{unique}-1", headers=AUTH)).status_code == 404


async def test_csv_import_loads_good_rows_and_names_each_bad_row_and_field(api, unique):
    p = f"csv{unique}"
    body = (
        "sku,name,description,category,brand,price,currency,skin_type\r\n"     # 1
        f"{p}-1,控油洗面乳,温和清洁,Skin care > Face,Aqua,320,TWD,oily\r\n"       # 2
        f"{p}-2,Night cream,,Skin care > Face,Aqua,abc,,dry\r\n"                # 3: price not a number
        f"{p}-3,Toner,,Skin care,Aqua,-4,,\r\n"                                 # 4: negative price
        f"{p}-4,{'n' * 501},,,,,,\r\n"                                          # 5: name too long
        f"{p}-5,Bad\x00name,,,,,,\r\n"                                          # 6: NUL
        f",No sku,,,,,,\r\n"                                                    # 7: no sku
        f"{p}-6,Mask,,,,12.5,,\r\n"                                             # 8
    ).encode()
    answer = await api.post("/v1/products/import", content=body, headers=CSV)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["rows"], result["inserted"], result["updated"], result["unchanged"]) == (7, 2, 0, 0)
    reasons = {r["line"]: r["reason"] for r in result["rejected"]}
    assert reasons[3].startswith("price: not a number") and reasons[4].startswith("price: must not be negative")
    assert reasons[5].startswith("name: at most 500") and reasons[6] == "name: must not contain NUL characters"
    assert reasons[7] == "sku: required" and set(reasons) == {3, 4, 5, 6, 7}
    first = (await api.get(f"/v1/products/{p}-1", headers=AUTH)).json()
    assert (first["name"], first["category"], first["attributes"]) == ("控油洗面乳", ["Skin care", "Face"],
                                                                        {"skin_type": "oily"})
    again = (await api.post("/v1/products/import", content=body, headers=CSV)).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 2)


async def test_ndjson_import_keeps_types_and_rejects_bad_json(api, unique):
    p = f"nd{unique}"
    lines = [
        json.dumps({"sku": f"{p}-1", "name": "Serum", "category": ["Skin care", "Face"], "price": 19.9,
                    "tags": ["new", "vegan"], "ml": 30}),
        '{"sku": "' + p + '-2", "name": "Broken"',                               # bad JSON
        json.dumps({"sku": f"{p}-3", "name": "Cream", "price": True}),          # price not a number
        json.dumps({"sku": f"{p}-4", "name": "Cream", "category": [1, 2]}),     # category not text
        json.dumps([1, 2]),
    ]
    result = (await api.post("/v1/products/import", content="\n".join(lines).encode(), headers=NDJSON)).json()
    assert result["inserted"] == 1, result
    reasons = {r["line"]: r["reason"] for r in result["rejected"]}
    assert reasons[2].startswith("invalid JSON") and reasons[3] == "price: must be a number"
    assert reasons[4].startswith("category:") and reasons[5] == "each line must be a JSON object"
    product = (await api.get(f"/v1/products/{p}-1", headers=AUTH)).json()
    assert product["attributes"] == {"tags": ["new", "vegan"], "ml": 30} and product["currency"] == "USD"


async def test_import_refuses_a_body_without_a_sku_column_and_other_types(api):
    no_sku = await api.post("/v1/products/import", content=b"name,price\nA,1\n", headers=CSV)
    assert no_sku.status_code == 422 and "'sku' column" in no_sku.text
    other = await api.post("/v1/products/import", content=b"{}", headers={**AUTH, "Content-Type": "application/json"})
    assert other.status_code == 415


async def test_a_later_row_of_the_same_sku_in_a_chunk_wins(engine, unique):
    rows = f"sku,name,price\n{unique}-s,First,1\n{unique}-s,Second,2\n".encode()

    async def stream():
        yield rows

    summary = await import_products(engine, stream(), "csv", "EUR", chunk_rows=10)
    assert (summary.inserted, summary.rejected) == (1, [])
    async with engine.connect() as conn:
        name, price = (await conn.execute(text("SELECT name, price FROM products WHERE sku = :s"),
                                          {"s": f"{unique}-s"})).one()
    assert (name, price) == ("Second", Decimal("2"))
