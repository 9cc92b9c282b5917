"""Database engine, sessions and migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    # No pre-ping: it doubles the round trips of short statements (measured on the send path).
    # Connections are recycled instead, and a statement on a dead connection fails its
    # request or activity attempt, which the caller (or Temporal) retries.
    # No overflow: every connection the pool opens is kept until recycled. An overflow connection
    # is closed as it is returned, so a steady load just past the pool opened and closed one every
    # few requests (a TCP connect, a TLS attempt, authentication, a new Postgres backend): on the
    # engagement bench that was 0.5-1 ms of the API's CPU and 0.3-0.9 ms of Postgres's per
    # signalled open. A caller past the pool waits for a connection instead.
    return create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_recycle=300)


@asynccontextmanager
async def statement_by_statement(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A Core connection whose every statement commits by itself, for a caller whose every write
    is one statement and that needs no snapshot across its reads. A transaction around it is two
    more round trips, BEGIN and COMMIT or ROLLBACK (a quarter of an engagement request's time in
    the API), and an ORM session's bookkeeping per statement was another tenth."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def raw_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection under a pooled SQLAlchemy connection (for COPY and set-based
    statements), returned to the pool after."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        yield raw.driver_connection


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (blocking; call before the event loop or in a thread)."""
    command.upgrade(alembic_config(url), revision)
