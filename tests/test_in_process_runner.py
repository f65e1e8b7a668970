"""The in-process runner's waits (`drain`, `settle`) never cut off the jobs they wait for:
`screen demo` waits at most 30 s before its banner, and a model rating that took longer
was cancelled with the wait, leaving its event `dispatched` for ten minutes."""

from __future__ import annotations

import asyncio

from screen.platform.jobs import InProcessRunner, Job, JobContext


async def test_a_job_outlasting_the_settle_wait_still_finishes(runner: InProcessRunner) -> None:
    finished = asyncio.Event()

    async def slow_rating(ctx: JobContext) -> None:
        await asyncio.sleep(0.5)
        finished.set()

    demo = InProcessRunner([Job(slow_rating)], interval_seconds=3600)
    demo.context = runner.context
    demo.start()
    try:
        await demo.enqueue("slow_rating", "slow-1")
        await demo.settle(passes=1, within_seconds=0.1)
        assert not finished.is_set()  # the wait ended first
        await asyncio.wait_for(finished.wait(), timeout=5)
    finally:
        await demo.stop()


async def test_a_cancelled_drain_leaves_its_jobs_running(runner: InProcessRunner) -> None:
    finished = asyncio.Event()

    async def slow_rating(ctx: JobContext) -> None:
        await asyncio.sleep(0.3)
        finished.set()

    queue = InProcessRunner([Job(slow_rating)], interval_seconds=3600)
    queue.context = runner.context
    await queue.enqueue("slow_rating", "slow-2")
    waiting = asyncio.create_task(queue.drain())
    await asyncio.sleep(0.05)
    waiting.cancel()
    await asyncio.wait_for(finished.wait(), timeout=5)
    await queue.drain()
