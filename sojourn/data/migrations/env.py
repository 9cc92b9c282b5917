import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import sojourn.data.models  # noqa: F401  (registers the tables)
import sojourn.data.predictions  # noqa: F401
import sojourn.data.products.table  # noqa: F401

target_metadata = SQLModel.metadata


def _migrate(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run() -> None:
    engine = create_async_engine(context.config.get_main_option("sqlalchemy.url"))
    async with engine.connect() as connection:
        await connection.run_sync(_migrate)
    await engine.dispose()


def _in_new_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_run())
        return
    raise RuntimeError("run migrations outside a running event loop (for example in a thread)")


_in_new_loop()
