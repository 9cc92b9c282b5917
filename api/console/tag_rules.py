"""The console's tag rules: each rule with its tag, definition and latest runs."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.console import sessions
from api.console.pages import render
from api.deps import SessionDep
from api.routing import resource_router
from sojourn.services import tag_rules

router = resource_router(api_key=False, prefix=sessions.PATH, include_in_schema=False,
                         default_response_class=HTMLResponse)


@router.get("/tag-rules")
async def tag_rules_list(request: Request, db: SessionDep) -> HTMLResponse:
    session = sessions.current(request)
    return render(request, "tag_rules.html", {"session": session, "rules": await tag_rules.list_rules(db)})
