"""Two leads asking for a probe of one prompt at the same instant get one probe: the
"one running probe per prompt" check and the insert are one step, not a read that both
requests pass before either writes."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.platform.clock import FrozenClock
from screen.platform.errors import ConflictError
from screen.platform.models import ExposureProbe, OutboxEvent, Prompt
from screen.review.exposure_probe import MODEL_PROBE, request_probe
from screen.settings import Settings
from tests.support.factories import make_screen, make_user


async def test_two_requests_at_once_queue_one_probe(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: FrozenClock
) -> None:
    configured = settings.with_overrides(model_url="http://127.0.0.1:9/v1", model_name="m")
    async with sessionmaker() as db:
        await make_screen(db, clock.now())
        leads = [
            await make_user(db, clock.now(), "lead", email=f"lead{i}@staff.example")
            for i in range(2)
        ]
        await db.commit()
        prompt_id = await db.scalar(select(Prompt.id).order_by(Prompt.id).limit(1))
    assert prompt_id is not None
    # Both requests have read (their sign-in, the prompt) before either writes.
    both_read = asyncio.Barrier(2)

    async def ask(index: int) -> str:
        async with sessionmaker() as db:
            try:
                async with db.begin():
                    await db.get(Prompt, prompt_id)
                    await both_read.wait()
                    await request_probe(db, configured, leads[index], prompt_id, "3", clock.now())
            except ConflictError:
                return "refused"
            return "queued"

    results = await asyncio.gather(ask(0), ask(1))

    assert sorted(results) == ["queued", "refused"]
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count(ExposureProbe.id))) == 1
        assert (
            await db.scalar(
                select(func.count(OutboxEvent.id)).where(OutboxEvent.kind == MODEL_PROBE)
            )
            == 1
        )
