"""`sojourn mailbox`: what the dev stack's SMTP sink received (or `--clear` it)."""

from __future__ import annotations

import argparse
import asyncio
import sys


def add_command(commands) -> None:
    mailbox = commands.add_parser("mailbox", help="list (or --clear) what the SMTP sink received", description=(
        "Reads the database `sojourn dev` runs with the same settings (POSTGRES_PORT), or DATABASE_URL if set."))
    mailbox.add_argument("--to", help="only messages for this recipient")
    mailbox.add_argument("--limit", type=int, default=100)
    mailbox.add_argument("--clear", action="store_true", help="delete the messages instead")
    mailbox.set_defaults(func=cmd_mailbox)


def _dev_database_url() -> str:
    """DATABASE_URL when set, else the database `sojourn dev` runs with the same settings (POSTGRES_PORT)."""
    from sqlalchemy.engine import make_url

    from sojourn.settings import get_settings

    settings = get_settings()
    if "database_url" in settings.model_fields_set:
        return settings.database_url
    # The default URL is the dev stack's but for the port, which `sojourn dev` takes from POSTGRES_PORT.
    return make_url(settings.database_url).set(port=settings.postgres_port).render_as_string(hide_password=False)


async def _mailbox(args: argparse.Namespace) -> int:
    import asyncpg
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    from sojourn.data.db import create_engine
    from sojourn.dev.mailbox import clear_mailbox, list_mailbox

    url = _dev_database_url()
    engine = create_engine(url, pool_size=2)
    try:
        if args.clear:
            deleted = await clear_mailbox(engine, to=args.to)
            print(f"deleted {deleted} message(s)")
            return 0
        messages = await list_mailbox(engine, to=args.to, limit=args.limit)
    except (OSError, sqlalchemy.exc.SQLAlchemyError, asyncpg.PostgresError) as err:
        reason = str(getattr(err, "orig", None) or err).splitlines()[0]
        print(f"cannot read the mailbox at {make_url(url).render_as_string(hide_password=True)}: {reason} "
              "(is `sojourn dev` running?)", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    for message in reversed(messages):  # oldest first, so the newest ends next to the prompt
        when = message["received_at"].astimezone().strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when}  {', '.join(message['to'])}  {message['subject'] or '(no subject)'}")
    if not messages:
        print("mailbox is empty")
    return 0


def cmd_mailbox(args: argparse.Namespace) -> int:
    return asyncio.run(_mailbox(args))
