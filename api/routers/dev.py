"""What the embedded SMTP sink received (development and tests); mounted only with DEV_MAILBOX_ENABLED."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from api.deps import SessionDep
from api.routing import resource_router
from sojourn.dev.mailbox import clear_mailbox, list_mailbox

router = resource_router(prefix="/v1/dev", tags=["dev"])


@router.get("/mailbox")
async def mailbox(session: SessionDep, to: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict]:
    return await list_mailbox(session, to=to, limit=limit)


@router.delete("/mailbox", status_code=204)
async def empty_mailbox(session: SessionDep) -> None:
    await clear_mailbox(session)
