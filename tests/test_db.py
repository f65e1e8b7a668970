"""The database layer's hot path: a HotStatement survives the database dropping its connections."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from screen.platform.db import HotStatement, create_engine


async def test_after_the_database_drops_every_connection_one_call_fails_then_all_work(
    engine: AsyncEngine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("dropping server connections is a PostgreSQL condition")
    # Its own engine, named, so only its connections are dropped (not the suite's).
    own = create_engine(
        engine.url.render_as_string(hide_password=False),
        connect_args={"server_settings": {"application_name": "hot-statement-test"}},
    )
    hot = HotStatement(select(literal(7)))
    try:
        # Fill the pool with several live connections.
        assert await asyncio.gather(*(hot.first(own) for _ in range(5))) == [(7,)] * 5
        assert own.pool.checkedin() >= 2  # type: ignore[attr-defined]
        async with engine.connect() as admin:
            await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'hot-statement-test'"
                )
            )
            await admin.commit()
            # Termination is asynchronous: wait until those backends are really gone.
            for _ in range(100):
                left = await admin.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE application_name = 'hot-statement-test'"
                    )
                )
                await admin.commit()
                if not left:
                    break
                await asyncio.sleep(0.02)

        outcomes = []
        for _ in range(6):
            try:
                outcomes.append(await hot.first(own))
            except Exception:  # whichever way the dead connection shows itself
                outcomes.append("failed")

        assert outcomes.count("failed") <= 1  # not one failure per pooled connection
        assert outcomes[-5:] == [(7,)] * 5
    finally:
        await own.dispose()


async def test_a_cancelled_statement_gives_its_connection_back(engine: AsyncEngine) -> None:
    # The checkout, the statement and the checkin share one greenlet: a request cancelled
    # mid-statement (a client gone, a timeout) must still leave nothing checked out.
    if engine.dialect.name != "postgresql":
        pytest.skip("the asyncpg path is PostgreSQL's")
    own = create_engine(engine.url.render_as_string(hide_password=False))
    slow = HotStatement(select(func.pg_sleep(5)))
    hot = HotStatement(select(literal(7)))
    try:
        assert await hot.first(own) == (7,)
        running = asyncio.create_task(slow.first(own))
        await asyncio.sleep(0.2)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert own.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert await asyncio.gather(*(hot.first(own) for _ in range(3))) == [(7,)] * 3
        assert own.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await own.dispose()
