"""Readiness means "can serve requests": the database is required, Redis is not.

During a Redis outage every candidate and recruiter request keeps working (side effects
wait in the outbox), so /readyz stays 200 and says the queue is degraded, in its body and
in /metrics; only a database that does not answer makes it 503 (tests/test_operations.py).
"""

from __future__ import annotations

from dataclasses import replace

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from screen.app import create_app
from screen.platform.clock import FrozenClock
from screen.settings import Settings
from tests.support.smtp import free_port


async def test_readyz_is_200_and_degraded_when_only_redis_is_down(
    settings: Settings, clock: FrozenClock, db: AsyncSession
) -> None:
    del db  # requested only so the tables exist and are empty
    closed_port = free_port()  # nothing listens here
    app = create_app(
        replace(settings, redis_url=f"redis://127.0.0.1:{closed_port}/0"),
        clock=clock,
        run_jobs=False,
    )
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics")

    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["database"] == "ok"
    assert body["redis"].startswith("unavailable")
    assert body["status"] == "degraded"
    assert "screen_redis_up 0.0" in metrics.text


async def test_readyz_without_redis_configured_is_plainly_ok(
    settings: Settings, clock: FrozenClock, db: AsyncSession
) -> None:
    del db
    app = create_app(settings, clock=clock, run_jobs=False)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"database": "ok", "status": "ok"}
