"""Temporal out of reach: every route that asks it answers 503 `temporal_unavailable` (a console
page says so in place), never a 500."""

from __future__ import annotations

from helpers import API_KEY, api_without_temporal


async def test_reading_runs_and_enrollments_without_temporal_is_503(settings, unique):
    async with api_without_temporal(settings) as api:
        for path in (f"/v1/journeys/j-{unique}/segment-enrollments/e-{unique}",
                     f"/v1/journeys/j-{unique}/enrollments/e-{unique}"):
            response = await api.get(path)
            assert response.status_code == 503, (path, response.text)
            error = response.json()["error"]
            assert error["code"] == "temporal_unavailable" and "Temporal" in error["message"], error
            assert response.headers["Retry-After"]


async def test_a_console_page_without_temporal_says_so_in_place(settings, unique):
    async with api_without_temporal(settings) as api:
        form = await api.get("/console/sign-in")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed_in = await api.post("/console/sign-in", data={"csrf_token": token, "api_key": API_KEY,
                                                             "next": "/console/enrollments"})
        assert signed_in.status_code == 303, signed_in.text
        page = await api.get("/console/enrollments", headers={"Accept": "text/html"})
        assert page.status_code == 503, page.text
        assert "Temporal is unavailable" in page.text and "<html" in page.text.lower()
