"""Read and clear what the development SMTP sink received (the `dev_mailbox` table)."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sojourn.data.models import MailboxMessage

_TABLE = MailboxMessage.__table__
_C = _TABLE.c


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, ValueError):  # unknown charset or broken transfer encoding
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def to_dict(row: Any) -> dict:
    # Parse bytes, not str: the str parser cannot decode 8bit UTF-8 bodies. SMTP's CRLF
    # line ends become "\n" so the text reads like what the template rendered.
    message = email.message_from_bytes(row.raw.replace("\r\n", "\n").encode("utf-8"), policy=default_policy)
    return {
        "id": row.id,
        "received_at": row.received_at,
        "from": row.mail_from,
        "to": list(row.rcpt_to),
        "subject": row.subject,
        "message_id": row.message_id,
        "headers": {name: str(value) for name, value in message.items()},
        "text": _body(message, "plain"),
        "html": _body(message, "html"),
    }


def _recipient_is(address: str):
    # Addresses compare case-insensitively in practice; rcpt_to is a JSONB list of strings.
    recipients = func.jsonb_array_elements_text(_C.rcpt_to).table_valued("value").alias("r")
    return (
        select(1).select_from(recipients)
        .where(func.lower(recipients.c.value) == address.strip().lower())
        .exists()
    )


async def list_mailbox(db: AsyncSession | AsyncEngine, to: str | None = None, limit: int = 100) -> list[dict]:
    """Newest first. `db` is a session (the API's) or an engine (the CLI's)."""
    query = select(_TABLE).order_by(_C.id.desc()).limit(limit)
    if to:
        query = query.where(_recipient_is(to))
    if isinstance(db, AsyncEngine):
        async with db.connect() as conn:
            rows = (await conn.execute(query)).all()
    else:
        rows = (await db.execute(query)).all()
    return [to_dict(row) for row in rows]


async def clear_mailbox(db: AsyncSession | AsyncEngine, to: str | None = None) -> int:
    """Delete received messages (all, or those for `to`) and commit; returns how many."""
    statement = delete(_TABLE)
    if to:
        statement = statement.where(_recipient_is(to))
    if isinstance(db, AsyncEngine):
        async with db.begin() as conn:
            result = await conn.execute(statement)
    else:
        result = await db.execute(statement)
        await db.commit()
    return result.rowcount
