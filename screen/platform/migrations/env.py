"""Alembic environment: the URL comes from Screen's settings, or a connection is handed in."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import screen.platform.models
from screen.platform.db import Base, create_engine
from screen.settings import load_settings

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=screen.platform.models.include_in_comparison,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    settings = load_settings()
    url = context.config.get_main_option("sqlalchemy.url") or settings.database_url
    engine = create_engine(url, pooler=settings.database_pooler)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_with_own_engine())
