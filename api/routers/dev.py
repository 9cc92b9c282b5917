"""What the embedded SMTP sink received (development and tests)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionDep, SettingsDep
from api.errors import not_found
from sojourn.dev.mailbox import clear_mailbox, list_mailbox

router = APIRouter(prefix="/v1/dev", tags=["dev"])


@router.get("/mailbox")
async def mailbox(session: SessionDep, settings: SettingsDep, to: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict]:
    if not settings.dev_mailbox_enabled:
        raise not_found("mailbox")
    return await list_mailbox(session, to=to, limit=limit)


@router.delete("/mailbox", status_code=204)
async def empty_mailbox(session: SessionDep, settings: SettingsDep) -> None:
    if not settings.dev_mailbox_enabled:
        raise not_found("mailbox")
    await clear_mailbox(session)
