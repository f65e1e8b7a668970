"""The model's turns per event loop: a loop that is gone takes its turns with it."""

from __future__ import annotations

import asyncio
import gc
import weakref

from screen.review import model_rater
from screen.settings import Settings

SETTINGS = Settings().with_overrides(model_concurrency=1)


async def _hold_a_turn() -> None:
    async with model_rater.model_turn(SETTINGS):
        await asyncio.Event().wait()


async def _start_holding() -> None:
    asyncio.get_running_loop().create_task(_hold_a_turn())
    await asyncio.sleep(0.01)


async def _take_a_turn() -> str:
    async with asyncio.timeout(2), model_rater.model_turn(SETTINGS):
        return "rated"


def test_a_loop_closed_while_a_rating_held_its_turn_leaves_no_turns_behind() -> None:
    # Its semaphore, one turn short for good, once stayed under the loop's id, which a
    # later loop may be given: that loop's ratings would then wait forever.
    before = len(model_rater._SLOTS)
    loop = asyncio.new_event_loop()
    gone = weakref.ref(loop)
    loop.run_until_complete(_start_holding())
    loop.close()
    del loop
    gc.collect()
    assert gone() is None
    assert len(model_rater._SLOTS) == before

    fresh = asyncio.new_event_loop()
    try:
        assert fresh.run_until_complete(_take_a_turn()) == "rated"
    finally:
        fresh.close()
