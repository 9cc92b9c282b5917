"""YAML aliases are refused (they expand: a few hundred bytes of "billion laughs" become
gigabytes), and an unknown unsubscribe link answers a browser with a page, not JSON."""

from __future__ import annotations

import time
import uuid

import pytest

from sojourn.delivery.tokens import sign
from sojourn.dsl.validation import DefinitionError
from sojourn.dsl.validation.files import load_definition_file

YAML = {"Content-Type": "application/yaml"}

LAUGHS = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]" for i in range(8)])


async def test_billion_laughs_is_refused_at_once(api, unique):
    body = f"id: laughs-{unique}\ndefinition:\n  name: x\n  nodes: []\n  laughs:\n" + \
        "\n".join(f"    {line}" for line in LAUGHS.splitlines()) + "\n"
    started = time.monotonic()
    response = await api.post("/v1/journeys", content=body, headers=YAML)
    assert time.monotonic() - started < 5  # nothing was expanded
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_yaml" and "aliases are not accepted (*a)" in error["message"]


async def test_any_alias_is_refused_even_a_small_one(api, unique):
    body = f"""id: alias-{unique}
definition:
  name: x
  nodes:
    - &mail {{id: mail, type: send, subject: Hi, text: Hi, next: end}}
    - {{<<: *mail, id: again}}
    - {{id: end, type: exit}}
"""
    response = await api.post("/v1/journeys", content=body, headers=YAML)
    assert response.status_code == 422 and "aliases are not accepted (*mail)" in response.text


def test_a_definition_file_with_aliases_is_a_definition_error(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text("name: x\nnodes: []\n" + LAUGHS)
    with pytest.raises(DefinitionError, match="aliases are not accepted"):
        load_definition_file(path)


async def test_an_unknown_unsubscribe_link_is_a_page_for_a_browser(api, settings):
    forged = f"/u/{sign(f'u:{uuid.uuid4()}', 'not-our-secret')}"
    unknown = f"/u/{sign(f'u:{uuid.uuid4()}', settings.tracking_secret)}"
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for path in (forged, unknown, "/u/garbage"):
        page = await api.get(path, headers=browser)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "<title>Not Found</title>" in page.text and "This link is not valid" in page.text
        posted = await api.post(path, headers=browser)
        assert posted.status_code == 404 and posted.headers["content-type"].startswith("text/html")
        # A program asking for JSON (or for anything) gets the error shape as before.
        for accept in ("application/json", "*/*"):
            program = await api.get(path, headers={"Accept": accept})
            assert program.status_code == 404 and program.json()["error"]["code"] == "not_found"


async def test_the_api_answers_json_to_a_browser(api):
    """Only routes that answer pages answer their errors as pages."""
    response = await api.get("/v1/contacts/nobody-at-all", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.headers["content-type"] == "application/json"
    assert set(response.json()["error"]) == {"code", "message", "details"}
