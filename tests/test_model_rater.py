"""The model rater through the outbox, against a real Chat Completions peer on loopback:
identity never leaves, replies are checked and retried once, failures end dead, and the
human pipeline never waits for the model."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import (
    AuditEvent,
    Decision,
    ModelRating,
    OutboxEvent,
    OutboxStatus,
    Review,
)
from screen.platform.outbox import (
    GAVE_UP_AT_ONCE,
    MAX_TRIES,
    REDISPATCH_AFTER,
    RETRY_DELAYS,
    SLOW_JOB_SECONDS,
    is_slow,
)
from screen.registry import REGISTRY
from screen.review.exposure_probe import MODEL_PROBE
from screen.review.model_rater import MODEL_RATE
from screen.settings import Settings, SettingsError
from screen.worker import WorkerSettings
from tests.support.factories import make_screen, make_submitted, make_user, score_next
from tests.support.model_server import ChatPeer, malformed, rating, stall, status
from tests.support.smtp import free_port
from tests.support.staff import agreement_page, post_form, sign_in

Client = AsyncTestClient[Litestar]
KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
NAME, EMAIL, EXTERNAL = "Ada Lovelace", "ada.lovelace@example.com", "GH-77123"
ANSWER = (
    "I am Ada Lovelace (ada.lovelace@example.com, GH-77123). We choose pgvector with HNSW "
    "because the p95 budget is 300 ms and $4,000 a month rules out a managed store. Ada "
    "would revisit this past 10M documents."
)


async def fetch(db: AsyncSession, model: type[Any], *where: ColumnElement[bool]) -> list[Any]:
    query = select(model).where(*where).order_by(model.id)
    return list(await db.scalars(query.execution_options(populate_existing=True)))


async def run_jobs(runner: InProcessRunner) -> None:
    # A run that scores a calibration exemplar queues the answer's rating as a new event:
    # a few rounds let that follow-up run too.
    for _ in range(3):
        await runner.tick()
        await runner.drain()


def use_model(runner: InProcessRunner, settings: Settings, url: str, **more: Any) -> Settings:
    assert runner.context is not None
    configured = settings.with_overrides(model_url=url, model_name="peer-7b", **more)
    runner.context.settings = configured
    return configured


async def submit(
    db: AsyncSession, settings: Settings, clock: FrozenClock, threshold: float | None = 0.8
) -> int:
    screen = await make_screen(db, clock.now(), calibration_threshold=threshold)
    candidate = await make_submitted(
        db, settings, clock.now(), screen=screen, name=NAME, email=EMAIL,
        answer=ANSWER, external_id=EXTERNAL,
    )  # fmt: skip
    return candidate.invitation.attempt.id


async def test_off_by_default_the_event_finishes_and_nothing_is_rated(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    await submit(db, settings, clock)
    await run_jobs(runner)
    [event] = await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_RATE)
    assert event.status == OutboxStatus.DONE
    assert event.payload["skipped"] == "no model configured"
    assert await fetch(db, ModelRating) == []


async def test_the_model_calibrates_then_rates_the_masked_answer_as_its_own_rater(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    client: Client,
) -> None:
    async with ChatPeer(default=rating(3)) as peer:
        use_model(runner, settings, peer.url)
        attempt_id = await submit(db, settings, clock)
        await run_jobs(runner)

    calibration, live = await fetch(db, ModelRating)
    # The strong exemplar's experts said 4, 3, 3, 3: all within one of 3, so it passes.
    assert (calibration.exemplar_key, calibration.calibration_share) == ("strong", 1.0)
    assert live.rater == "model: peer-7b"
    assert (live.attempt_id, live.status, live.calls) == (attempt_id, "rated", 1)
    assert {k: v["level"] for k, v in live.ratings.items()} == dict.fromkeys(KEYS, 3)
    assert live.ratings["first_week"]["evidence"] == "I am [redacted] ([redacted], [redacted]). We"
    assert (live.prompt_tokens, live.completion_tokens) == (100, 20)
    assert live.weighted_score == 3.0

    # What left Screen: the rubric's anchored descriptors and the answer, never identity.
    sent = peer.raw[-1].decode()
    for identity in ("Ada", "Lovelace", "ada.lovelace", "example.com", "GH-77123"):
        assert identity not in sent
    assert "Compares alternatives on p95 latency and monthly cost" in sent
    assert "pgvector with HNSW" in sent
    request = peer.requests[-1]
    assert request["model"] == "peer-7b"
    assert request["response_format"]["type"] == "json_schema"

    # Stored apart: the human slots are untouched and no decision counts the model.
    reviews = await fetch(db, Review, Review.attempt_id == attempt_id)
    assert reviews and all(r.reviewer_id is None and r.scores is None for r in reviews)
    assert await fetch(db, Decision) == []

    metrics = (await client.get("/metrics")).text
    assert 'screen_model_calls_total{outcome="ok"}' in metrics
    assert "screen_model_call_seconds_bucket" in metrics
    assert 'screen_model_tokens_total{kind="prompt"}' in metrics


async def test_a_malformed_reply_is_retried_once_then_the_rating_is_recorded_failed(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    async with ChatPeer(script=[rating(3), malformed(), rating(2)]) as peer:
        use_model(runner, settings, peer.url)
        first = await submit(db, settings, clock)
        await run_jobs(runner)
        [_, rated] = await fetch(db, ModelRating)
        assert (rated.attempt_id, rated.status, rated.calls) == (first, "rated", 2)
        # The retry told the model what was wrong with its first reply.
        retry = peer.requests[2]["messages"]
        assert retry[-1]["content"].startswith("That reply was rejected:")

        peer.script[:] = [malformed("not json at all"), malformed("{}")]
        second = await submit(db, settings, clock)
        await run_jobs(runner)

    [failed] = await fetch(db, ModelRating, ModelRating.attempt_id == second)
    assert (failed.status, failed.calls, failed.ratings) == ("failed", 2, None)
    assert failed.error.startswith("malformed reply (2 of 2):")
    events = await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_RATE)
    assert events[-1].status == OutboxStatus.DONE  # the model answered: nothing to retry


async def test_invented_evidence_is_retried_once_then_kept_as_levels_never_as_quotes(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    invented = "We hire a GPU team"
    # The first reply quotes nothing from the answer, the retry quotes it on one dimension
    # only: the retry, with more real quotes, is the rating kept.
    half = rating(dict.fromkeys(KEYS, 2), evidence=invented)
    async with ChatPeer(script=[rating(3), half, rating(2, evidence=invented)]) as peer:
        use_model(runner, settings, peer.url)
        attempt_id = await submit(db, settings, clock)
        await run_jobs(runner)
        retry = peer.requests[2]["messages"][-1]["content"]

    [rated] = await fetch(db, ModelRating, ModelRating.attempt_id == attempt_id)
    # Rated: its levels are its judgement, which its agreement with the humans measures.
    assert (rated.status, rated.calls, rated.error) == ("rated", 2, None)
    assert {key: rated.ratings[key]["level"] for key in KEYS} == dict.fromkeys(KEYS, 2)
    assert all(rated.ratings[key]["quoted"] is False for key in KEYS)
    assert retry.startswith("That reply was rejected: the evidence for latency_vs_cost,")
    assert "copy at least 2 words of the answer, word for word, as the evidence" in retry


async def test_a_model_that_fails_calibration_never_sees_live_answers(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    # Level 1 on the strong exemplar (experts: 4, 3, 3, 3) and 4 on the weak (1, 1, 1, 2).
    async with ChatPeer(script=[rating(1), rating(4)]) as peer:
        use_model(runner, settings, peer.url)
        attempt_id = await submit(db, settings, clock)
        await run_jobs(runner)
        assert len(peer.requests) == 2  # the two exemplars, never the answer

    [live] = await fetch(db, ModelRating, ModelRating.attempt_id == attempt_id)
    assert live.status == "not_calibrated"
    assert live.error == "calibration best share 0% is below the gate's 80%"


async def test_a_dead_model_server_backs_off_ends_dead_and_never_delays_the_humans(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    client: Client,
) -> None:
    use_model(runner, settings, f"http://127.0.0.1:{free_port()}/v1")  # nothing listens
    # Reviewers need no calibration here; the model is held to the default 80% regardless.
    attempt_id = await submit(db, settings, clock, threshold=None)
    await run_jobs(runner)
    [event] = await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_RATE)
    assert event.status == OutboxStatus.PENDING
    assert "unreachable" in (event.last_error or "")

    # The humans score and the rule decides while the model is down.
    for n in range(2):
        reviewer = await make_user(db, clock.now(), "reviewer", email=f"r{n}@staff.example")
        await score_next(db, reviewer, dict.fromkeys(KEYS, 3), clock.now())
    [decision] = await fetch(db, Decision, Decision.attempt_id == attempt_id)
    assert decision.outcome == "pass"

    for delay in RETRY_DELAYS:
        clock.advance(seconds=delay.total_seconds())
        await run_jobs(runner)
    [event] = await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_RATE)
    assert (event.status, event.tries) == (OutboxStatus.DEAD, MAX_TRIES)
    [failed] = await fetch(db, ModelRating)
    assert failed.status == "failed"
    assert failed.error.startswith(
        f"gave up after {MAX_TRIES} tries: the model server is unreachable"
    )

    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    page = (await client.get("/admin/outbox")).text
    assert MODEL_RATE in page and "the model server is unreachable" in page


async def test_a_slow_or_failing_server_is_retried_later(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    async with ChatPeer(script=[stall(3), status(503), rating(3), rating(3)]) as peer:
        use_model(runner, settings, peer.url, model_timeout_seconds=1)
        await submit(db, settings, clock)
        await run_jobs(runner)
        [event] = await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_RATE)
        assert event.last_error == "ModelUnavailable: the model server did not answer within 1 s"

        clock.advance(seconds=RETRY_DELAYS[0].total_seconds())
        await run_jobs(runner)
        [event] = await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_RATE)
        assert event.last_error is not None and "HTTP 503" in event.last_error

        clock.advance(seconds=RETRY_DELAYS[1].total_seconds())
        await run_jobs(runner)
    # The first event scored the exemplar and queued the answer's rating as a second one.
    events = await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_RATE)
    assert [(e.status, e.tries) for e in events] == [("done", 3), ("done", 1)]
    statuses = [r.status for r in await fetch(db, ModelRating)]
    assert statuses == ["rated", "rated"]


async def test_the_agreement_page_shows_the_model_beside_the_humans_and_the_rule_refuses_it(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    client: Client,
) -> None:
    async with ChatPeer(default=rating(3)) as peer:
        use_model(runner, settings, peer.url)
        screen = await make_screen(db, clock.now(), calibration_threshold=None)
        for n in range(3):
            await make_submitted(
                db,
                settings,
                clock.now(),
                screen=screen,
                name=f"Cand {n}x",
                email=f"c{n}@example.com",
            )
        await run_jobs(runner)
    first = await make_user(db, clock.now(), "reviewer", email="h1@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="h2@staff.example")
    for _ in range(3):
        await score_next(db, first, dict.fromkeys(KEYS, 3), clock.now())
        await score_next(db, second, dict.fromkeys(KEYS, 4), clock.now())
    lead = await make_user(db, clock.now(), "lead")
    await sign_in(client, lead.email)

    page = (await agreement_page(client, runner, "/lead/agreement?prompt=sample-decision")).text
    assert "Model rater: peer-7b" in page
    assert "best share 100% of dimensions within one level" in page
    assert "Live answers: 3 rated, 0 failed, 0 not sent" in page
    assert 'data-model-validity="refused"' in page
    assert "3 human-decided answers rated by the model; at least 50 are needed" in page
    # Humans gave 3 and 4 (mean 3.5); the model's 3 is exact and adjacent on every answer.
    assert "<td>3</td>\n      <td>100%</td>\n      <td>100%</td>" in page


async def test_a_waived_model_that_disagrees_asks_for_one_more_human_review_never_decides(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    client: Client,
) -> None:
    # Level 1 everywhere: fails the strong exemplar, passes the weak one (1, 1, 1, 2).
    async with ChatPeer(default=rating(1)) as peer:
        use_model(runner, settings, peer.url)
        screen = await make_screen(db, clock.now(), calibration_threshold=None)
        await make_submitted(db, settings, clock.now(), screen=screen, email="one@example.com")
        await run_jobs(runner)

        lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
        await sign_in(client, lead.email)
        waive = {"rater": "model: peer-7b", "prompt": "sample-decision", "reason": "x" * 20}
        assert (await post_form(client, "/admin/model-rater/waive", waive)).status_code == 403
        page = (await client.get("/lead/agreement?prompt=sample-decision")).text
        assert 'data-model-validity="refused"' in page  # a lead sees the verdict, never waives

        admin = await make_user(db, clock.now(), "admin", email="admin@staff.example")
        await sign_in(client, admin.email)
        short = await post_form(client, "/admin/model-rater/waive", {**waive, "reason": "ok"})
        assert short.status_code == 400 and "reason of 10 to 1000" in short.text
        waived = await post_form(
            client,
            "/admin/model-rater/waive",
            {**waive, "reason": "Pilot: trial the check on this prompt"},
            follow_redirects=True,
        )
        assert "The rule is waived for that model on that prompt." in waived.text
        assert "Pilot: trial the check on this prompt" in waived.text
        assert "1 human-decided answers rated by the model" not in waived.text
        [audited] = await fetch(db, AuditEvent, AuditEvent.action == "model_validity.waived")
        assert audited.after == {
            "rater": "model: peer-7b",
            "reason": "Pilot: trial the check on this prompt",
        }
        await sign_in(client, lead.email)
        page = (await client.get("/lead/agreement?prompt=sample-decision")).text
        assert "Waived by an admin on" in page

        await make_submitted(db, settings, clock.now(), screen=screen, email="two@example.com")
        await run_jobs(runner)
    first, second = await fetch(db, ModelRating, ModelRating.attempt_id.is_not(None))
    assert (first.check_active, second.check_active) == (False, True)

    reviewers = [
        await make_user(db, clock.now(), "reviewer", email=f"rev{n}@staff.example")
        for n in range(3)
    ]
    for reviewer in reviewers[:2]:
        for _ in range(2):
            await score_next(db, reviewer, dict.fromkeys(KEYS, 4), clock.now())
    # The answer rated before the waiver is decided by the humans alone; the other waits:
    # the model's 1s would fail what the reviews pass, so a third human reads it.
    [decided] = await fetch(db, Decision)
    assert decided.attempt_id == first.attempt_id and decided.outcome == "pass"
    slots = await fetch(db, Review, Review.attempt_id == second.attempt_id)
    assert [(r.slot, r.status) for r in slots] == [(1, "submitted"), (2, "submitted"), (3, "open")]
    [asked] = await fetch(db, AuditEvent, AuditEvent.action == "model_check.review_requested")
    assert asked.after["reason"] == "the model's levels give fail where the reviews give pass"

    await score_next(db, reviewers[2], dict.fromkeys(KEYS, 4), clock.now())
    decision = (await fetch(db, Decision, Decision.attempt_id == second.attempt_id))[0]
    # The humans decide, with three reviews; the model's levels are not among them.
    assert decision.outcome == "pass" and len(decision.inputs["reviews"]) == 3
    assert decision.weighted_score == 4.0


# What a model server's limits do to a rating: a request the server refuses outright (a
# prompt longer than its context window) is recorded failed at once instead of being sent
# again for a day, and model calls run as jobs allowed minutes, as a CPU server needs.
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
