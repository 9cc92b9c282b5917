"""The console's usage page: messages, billable units and cost per channel per day, drawn as
charts (uPlot, vendored) over a table of the same numbers, which are GET /v1/usage's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from api.console import sessions
from api.console.pages import render
from api.deps import SessionDep
from api.routing import resource_router
from sojourn.data.models import utcnow
from sojourn.errors import SojournError
from sojourn.services import usage

router = resource_router(api_key=False, prefix=sessions.PATH, include_in_schema=False,
                         default_response_class=HTMLResponse)
GROUPS = ["day", "channel"]


@router.get("/usage")
async def usage_page(request: Request, db: SessionDep,
                     from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
                     to: Annotated[str | None, Query(max_length=40)] = None) -> HTMLResponse:
    session = sessions.current(request)
    currency = request.app.state.settings.usage_currency
    context: dict[str, Any] = {"session": session, "start": from_ or "", "end": to or "", "usage": None,
                               "chart": None, "error": None, "currency": currency}
    try:
        since, until = usage.time_range(from_ or None, to or None, utcnow())
    except SojournError as exc:
        context["error"] = exc.message
        return render(request, "usage.html", context, 422)
    found = await usage.usage(db, since, until, GROUPS, currency)
    context.update(usage=found, chart={**chart(found["rows"]), "from": since.isoformat(), "to": until.isoformat()})
    return render(request, "usage.html", context)


def chart(rows: list[dict]) -> dict[str, Any]:
    """The rows as the charts take them: the days, and per channel its units and cost on each
    day (None where it sent nothing)."""
    days = sorted({row["day"] for row in rows})
    channels = sorted({row["channel"] for row in rows})
    at = {(row["day"], row["channel"]): row for row in rows}
    series = {channel: {"units": [at[(day, channel)]["units"] if (day, channel) in at else None for day in days],
                        "cost": [float(at[(day, channel)]["cost"]) if (day, channel) in at else None for day in days]}
              for channel in channels}
    return {"days": [day.isoformat() for day in days], "channels": channels, "series": series}
