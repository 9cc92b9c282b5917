"""The audit log: who changed which journey, segment, tag rule, consent or contact, and when.

A service records an entry in the session of its change, before it commits, so the entry is
kept exactly when the change is. `actor` names who asked: an API key's fingerprint
(`ApiKey.name`, never the key), or what changed it otherwise (`unsubscribe_link`,
`line_webhook`, `system` for code that runs without a caller).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.models import AuditEntry

SYSTEM = "system"


def record(session: AsyncSession, actor: str, action: str, resource_type: str, resource_id: str,
           **summary: Any) -> None:
    """Add an entry to the change in `session`: committed with it, or rolled back with it."""
    session.add(AuditEntry(actor=actor, action=action, resource_type=resource_type, resource_id=resource_id,
                           summary=summary))
