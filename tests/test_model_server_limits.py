"""What a model server's limits do to a rating: a request the server refuses outright
(a prompt longer than its context window) is recorded failed at once instead of being
sent again for a day, and model calls run as jobs allowed minutes, as a CPU server needs."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import ModelRating, OutboxEvent, OutboxStatus
from screen.platform.outbox import GAVE_UP_AT_ONCE, REDISPATCH_AFTER, SLOW_JOB_SECONDS, is_slow
from screen.registry import REGISTRY
from screen.review.exposure_probe import MODEL_PROBE
from screen.review.model_rater import MODEL_RATE
from screen.settings import Settings, SettingsError
from screen.worker import WorkerSettings
from tests.support.model_server import ChatPeer, status
from tests.test_model_rater import fetch, run_jobs, submit, use_model


async def test_a_request_the_server_refuses_is_recorded_failed_at_once(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    # llama.cpp answers 400 when the prompt and the reply's budget exceed its context.
    async with ChatPeer(script=[status(400)]) as peer:
        use_model(runner, settings, peer.url)
        await submit(db, settings, clock)
        await run_jobs(runner)
        assert len(peer.requests) == 1

    [event] = await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_RATE)
    assert (event.status, event.tries) == (OutboxStatus.DEAD, 1)
    assert (event.last_error or "").startswith(GAVE_UP_AT_ONCE)
    assert "HTTP 400" in (event.last_error or "")
    [failed] = await fetch(db, ModelRating)
    assert failed.status == "failed"
    refused = "refused by the model server: the model server answered HTTP 400"
    assert failed.error.startswith(refused)


def test_model_calls_run_as_jobs_allowed_minutes_and_never_handed_out_twice() -> None:
    handlers = REGISTRY.outbox_handlers
    assert is_slow(handlers[MODEL_RATE]) and is_slow(handlers[MODEL_PROBE])
    emails = [handler for kind, handler in handlers.items() if kind.endswith(".email")]
    assert emails and not any(is_slow(handler) for handler in emails)
    slow = next(f for f in WorkerSettings.functions if f.name == "deliver_slow_outbox_event")
    assert slow.timeout_s == SLOW_JOB_SECONDS
    # Still running when the relay would hand the event out again is what must not happen.
    assert REDISPATCH_AFTER.total_seconds() > SLOW_JOB_SECONDS


@pytest.mark.parametrize(("seconds", "valid"), [(240, True), (241, False), (0.5, False)])
def test_the_per_call_timeout_fits_a_reply_and_its_retry_in_the_job(
    seconds: float, valid: bool
) -> None:
    configured = Settings().with_overrides(
        model_url="http://127.0.0.1:1/v1", model_timeout_seconds=seconds
    )
    if valid:
        configured.check()
    else:
        with pytest.raises(SettingsError, match="SCREEN_MODEL_TIMEOUT_SECONDS"):
            configured.check()
