"""The database layer's hot path: a HotStatement survives the database dropping its connections,
and requests waiting for a pooled connection get one in the order they asked."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from screen.platform.db import FairAsyncQueuePool, HandOffQueue, HotStatement, create_engine


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


async def _checkout_order(engine: AsyncEngine, tasks: int, each: int) -> list[int]:
    """Which task got the one pooled connection, checkout after checkout, when every task
    asks again as soon as its statement is done (as 64 tabs saving back to back do)."""
    hot = HotStatement(select(literal(1)))
    order: list[int] = []

    async def saves(task: int) -> None:
        for _ in range(each):
            await hot.first(engine)
            order.append(task)

    await asyncio.gather(*(saves(task) for task in range(tasks)))
    return order


async def test_waiters_for_a_pooled_connection_are_served_in_the_order_they_came(
    engine: AsyncEngine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the pool the web process waits on is PostgreSQL's")
    url = engine.url.render_as_string(hide_password=False)
    fair = create_engine(url, pool_size=1)
    stock = create_engine(url, pool_size=1, poolclass=AsyncAdaptedQueuePool)
    try:
        assert isinstance(fair.pool, FairAsyncQueuePool)
        order = await _checkout_order(fair, tasks=4, each=10)
        # Round robin: nobody gets the connection twice while another task is waiting.
        assert order[4:] == order[:4] * 9
        # SQLAlchemy's own queue lets the task that just gave the connection back take it
        # again before the waiter it woke runs: the first task does all its saves first.
        assert (await _checkout_order(stock, tasks=4, each=10))[:10] == [0] * 10
    finally:
        await fair.dispose()
        await stock.dispose()


async def test_an_item_handed_to_a_waiter_that_gives_up_goes_to_the_next_one() -> None:
    queue: HandOffQueue = HandOffQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # both waiting, first in line
    queue.put_nowait("connection")
    first.cancel()  # a pool timeout after the hand-over, before the waiter ran
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) == "connection"
    assert queue.empty()


async def test_a_waiter_that_gave_up_is_not_handed_anything() -> None:
    queue: HandOffQueue = HandOffQueue()
    gave_up = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    gave_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gave_up
    queue.put_nowait("connection")
    assert queue.get_nowait() == "connection"  # kept for the next checkout, not lost
