"""The audit log's entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

ResourceType = Literal["journey", "segment", "segment_set", "tag_rule", "contact"]


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="Who: an API key's fingerprint (`key:` and 12 hex digits), or what changed it "
                                   "otherwise (`unsubscribe_link`, `one_click`, `line_webhook`, `system`).")
    action: str = Field(description="created, updated, activated, paused, archived, deleted, consent_changed, erased")
    resource_type: ResourceType
    resource_id: str
    summary: dict[str, Any]
