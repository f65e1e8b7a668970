"""The prompt exposure probe through HTTP and the outbox, against a real Chat Completions
peer on loopback: the model's answers become leaked answers (a pasted one is flagged),
its own scores of them give the library's figure and the redesign mark, and a bad
request, a missing model or a dead server leave nothing that reads as done."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.app import create_app
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.mail import FolderMailer
from screen.platform.models import (
    AuditEvent,
    ExposureProbe,
    LeakedAnswer,
    ModelRating,
    OutboxEvent,
    OutboxStatus,
    ProbeAnswer,
    Prompt,
    SimilarityMatch,
)
from screen.platform.outbox import MAX_TRIES, RETRY_DELAYS
from screen.review.exposure_probe import MODEL_PROBE
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user
from tests.support.model_server import ChatPeer, by_kind, rating, written
from tests.support.smtp import free_port
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
SLUG = "sample-decision"
ANSWERS = (
    "I would pick pgvector with an HNSW index inside the Postgres we already run. At two "
    "million documents the index fits in memory on one large instance, p95 stays under "
    "the 300 ms budget, and the cost is a fraction of a managed store. I would measure "
    "recall at ef_search 64 against exact search on a labelled sample every week.",
    "A managed vector database is the safer choice for a small team: Pinecone or Qdrant "
    "Cloud give predictable p95 latency, backups and scaling without an operator on call. "
    "It costs more per month, so I would revisit the decision if the bill passes the "
    "budget, and I would alert when recall on the weekly sample drops below 0.95.",
    "Start with OpenSearch k-NN because the product already uses it for keyword search, "
    "so hybrid ranking is one query. Latency is the risk: I would load test at peak, tune "
    "the HNSW m parameter, and page the search owner when p95 exceeds 300 ms for ten "
    "minutes. In the first week I would build the recall benchmark before any tuning.",
)


async def fetch(db: AsyncSession, model: type[Any], *where: ColumnElement[bool]) -> list[Any]:
    query = select(model).where(*where).order_by(model.id)
    return list(await db.scalars(query.execution_options(populate_existing=True)))


async def run_jobs(runner: InProcessRunner, rounds: int = 1) -> None:
    # Each step of a probe (one answer written, one scored) queues the next as a new event.
    for _ in range(rounds):
        await runner.tick()
        await runner.drain()


@pytest.fixture
async def peer() -> AsyncIterator[ChatPeer]:
    async with ChatPeer(default=by_kind(written(*ANSWERS), rating(4))) as running:
        yield running


def model_settings(settings: Settings, url: str) -> Settings:
    return settings.with_overrides(model_url=url, model_name="peer-7b")


async def client_for(
    settings: Settings, clock: FrozenClock, mail_dir: Path
) -> AsyncIterator[Client]:
    app = create_app(settings, clock=clock, mailer=FolderMailer(mail_dir), run_jobs=False)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


@pytest.fixture
async def model_client(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    mail_dir: Path,
    peer: ChatPeer,
    runner: InProcessRunner,
) -> AsyncIterator[Client]:
    """The app and the job runner with the peer configured as the model."""
    del sessionmaker  # requested only so the tables are emptied first
    configured = model_settings(settings, peer.url)
    assert runner.context is not None
    runner.context.settings = configured
    async for client in client_for(configured, clock, mail_dir):
        yield client


async def prompt_id(db: AsyncSession, clock: FrozenClock) -> int:
    await make_screen(db, clock.now())
    await db.commit()
    found = await db.scalar(select(Prompt.id).where(Prompt.slug == SLUG))
    assert found is not None
    return found


async def library(client: Client) -> str:
    page = await client.get("/lead/prompts")
    assert page.status_code == 200
    return page.text


async def test_the_probe_stores_the_model_s_answers_as_leaks_and_the_library_marks_a_prompt_a_model_passes(  # noqa: E501
    model_client: Client,
    peer: ChatPeer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    pid = await prompt_id(db, clock)
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    await sign_in(model_client, lead.email)
    assert "Exposure probe: not run yet." in await library(model_client)

    asked = await post_form(
        model_client,
        f"/lead/prompts/{pid}/probe",
        {"answers": "3", "back": "library"},
        follow_redirects=True,
    )
    assert asked.status_code == 200
    assert "Exposure probe queued" in asked.text
    assert "0 of 3 answers written, 0 scored" in asked.text
    [audited] = await fetch(db, AuditEvent, AuditEvent.action == "exposure_probe.requested")
    assert audited.actor == f"user:{lead.id}:{lead.email}"
    assert (audited.subject_id, audited.after["answers"]) == (SLUG, 3)
    assert audited.after["prompt_id"] == pid

    # Part way, nothing reads as done: no figure and no mark.
    await run_jobs(runner, 3)
    page = await library(model_client)
    assert "2 of 3 answers written, 1 scored" in page
    assert 'data-probe="done"' not in page and "data-needs-redesign" not in page

    await run_jobs(runner, 4)
    [probe] = await fetch(db, ExposureProbe)
    assert probe.status == "done"
    answers = await fetch(db, ProbeAnswer)
    assert [(a.seq, a.status, a.weighted_score) for a in answers] == [
        (1, "rated", 4.0),
        (2, "rated", 4.0),
        (3, "rated", 4.0),
    ]
    leaks = await fetch(db, LeakedAnswer)
    assert [leak.text for leak in leaks] == list(ANSWERS)
    assert {leak.source for leak in leaks} == {f"exposure probe {probe.id}: model: peer-7b"}
    assert [a.leak_id for a in answers] == [leak.id for leak in leaks]
    # The probe's ratings never mix with the live ones the agreement figures read.
    assert await fetch(db, ModelRating) == []
    # Free text written as a candidate would (varied), then the rater's checked rating.
    writes = [r for r in peer.requests if "response_format" not in r]
    assert len(writes) == 3 and all(r["temperature"] > 0 for r in writes)
    assert "This is answer 2 of 3" in writes[1]["messages"][1]["content"]
    rates = [r for r in peer.requests if "response_format" in r]
    assert len(rates) == 3 and ANSWERS[0] in rates[0]["messages"][1]["content"]

    page = await library(model_client)
    assert "A model alone would score <strong>4.00</strong>: <strong>pass</strong>" in page
    assert "data-needs-redesign" in page
    assert "From 3 probe answers (each on its own: 3 of 3 pass)" in page
    assert "by model: peer-7b on version 1" in page
    version = (await model_client.get(f"/lead/prompts/{pid}")).text
    assert 'data-probe-outcome="pass"' in version and "data-needs-redesign" in version
    # The lead reads what the model wrote and how it scored each answer.
    assert "What the model wrote (3 answers) and how it scored each" in version
    assert "Answer 2: weighted score 4.00" in version
    assert "A managed vector database is the safer choice for a small team" in version

    # A candidate who pastes the model's answer is flagged by the similarity check.
    candidate = await make_submitted(
        db, settings, clock.now(), email="paster@example.com", answer=ANSWERS[1]
    )
    await run_jobs(runner, 2)
    attempt_id = candidate.invitation.attempt.id
    [match] = await fetch(db, SimilarityMatch, SimilarityMatch.attempt_id == attempt_id)
    assert (match.other_kind, match.other_key, match.score) == ("leak", str(leaks[1].id), 1.0)


async def test_a_prompt_the_model_fails_has_its_figure_and_no_redesign_mark(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    runner: InProcessRunner,
    db: AsyncSession,
    clock: FrozenClock,
    mail_dir: Path,
) -> None:
    del sessionmaker
    async with ChatPeer(default=by_kind(written(*ANSWERS), rating(1))) as peer:
        configured = model_settings(settings, peer.url)
        assert runner.context is not None
        runner.context.settings = configured
        pid = await prompt_id(db, clock)
        admin = await make_user(db, clock.now(), "admin", email="admin@staff.example")
        async for client in client_for(configured, clock, mail_dir):
            await sign_in(client, admin.email)
            await client.get(f"/lead/prompts/{pid}")
            # Blank asks for the default, five.
            asked = await post_form(
                client, f"/lead/prompts/{pid}/probe", {"answers": ""}, follow_redirects=False
            )
            assert asked.status_code == 303
            await run_jobs(runner, 11)
            page = await library(client)
    [probe] = await fetch(db, ExposureProbe)
    assert (probe.answers_wanted, probe.status) == (5, "done")
    assert "A model alone would score <strong>1.00</strong>: <strong>fail</strong>" in page
    assert "each on its own: 0 of 5 pass" in page
    assert "data-needs-redesign" not in page
    # Five answers, three distinct texts: the copies point at the leak already recorded.
    assert len(await fetch(db, LeakedAnswer)) == 3
    assert len({a.leak_id for a in await fetch(db, ProbeAnswer)}) == 3


# "²" and "٣" are digits to str.isdigit(); int() refuses the first and reads the second as 3.
@pytest.mark.parametrize("count", ["0", "21", "five", "-3", "2.5", "²", "٣", "9" * 40])
async def test_a_count_out_of_range_is_refused_and_nothing_is_queued(
    model_client: Client, db: AsyncSession, clock: FrozenClock, count: str
) -> None:
    pid = await prompt_id(db, clock)
    lead = await make_user(db, clock.now(), "lead")
    await sign_in(model_client, lead.email)
    await model_client.get("/lead/prompts")
    refused = await post_form(model_client, f"/lead/prompts/{pid}/probe", {"answers": count})
    assert refused.status_code == 400
    assert "Ask for 1 to 20 answers (a whole number); nothing was queued." in refused.text
    assert await fetch(db, ExposureProbe) == []
    assert await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_PROBE) == []
    assert await fetch(db, AuditEvent, AuditEvent.action == "exposure_probe.requested") == []


async def test_without_a_model_or_as_a_reviewer_or_recruiter_the_probe_is_refused(
    client: Client, model_client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    pid = await prompt_id(db, clock)
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    await sign_in(client, lead.email)
    page = await library(client)
    assert "The exposure probe needs a model" in page and 'name="answers"' not in page
    refused = await post_form(client, f"/lead/prompts/{pid}/probe", {"answers": "5"})
    assert refused.status_code == 409
    assert "No model is configured (SCREEN_MODEL_URL)" in refused.text

    for role in ("reviewer", "recruiter"):
        user = await make_user(db, clock.now(), role, email=f"{role}@staff.example")
        await sign_in(model_client, user.email)
        denied = await post_form(model_client, f"/lead/prompts/{pid}/probe", {"answers": "5"})
        assert denied.status_code == 403
    recruiter_page = await library(model_client)
    assert 'name="answers"' not in recruiter_page

    missing = await sign_in(model_client, lead.email)
    assert missing.status_code in (200, 303)
    gone = await post_form(model_client, "/lead/prompts/99999/probe", {"answers": "5"})
    assert gone.status_code == 404
    assert await fetch(db, ExposureProbe) == []
    assert await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_PROBE) == []


async def test_a_dead_model_server_backs_off_ends_dead_and_the_probe_shows_no_figure(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    runner: InProcessRunner,
    db: AsyncSession,
    clock: FrozenClock,
    mail_dir: Path,
) -> None:
    del sessionmaker
    pid = await prompt_id(db, clock)
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    async with ChatPeer(default=by_kind(written(*ANSWERS), rating(4))) as peer:
        configured = model_settings(settings, peer.url)
        assert runner.context is not None
        runner.context.settings = configured
        async for client in client_for(configured, clock, mail_dir):
            await sign_in(client, lead.email)
            await client.get("/lead/prompts")
            await post_form(client, f"/lead/prompts/{pid}/probe", {"answers": "2"})
            # The first answer is written and scored; then the server goes away.
            await run_jobs(runner, 2)
    await run_jobs(runner)  # the peer's port no longer listens
    events = await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_PROBE)
    assert [e.status for e in events] == ["done", "done", "pending"]
    assert "unreachable" in (events[-1].last_error or "")
    [probe] = await fetch(db, ExposureProbe)
    assert probe.status == "running"

    for delay in RETRY_DELAYS:
        clock.advance(seconds=delay.total_seconds())
        await run_jobs(runner)
    events = await fetch(db, OutboxEvent, OutboxEvent.kind == MODEL_PROBE)
    assert (events[-1].status, events[-1].tries) == (OutboxStatus.DEAD, MAX_TRIES)
    [probe] = await fetch(db, ExposureProbe)
    assert probe.status == "failed"
    assert probe.error.startswith(f"gave up after {MAX_TRIES} tries: the model server is unre")
    # What was written stays a leaked answer; nothing reads as a finished figure.
    assert len(await fetch(db, LeakedAnswer)) == 1

    admin = await make_user(db, clock.now(), "admin", email="admin@staff.example")
    async for client in client_for(
        settings.with_overrides(model_url=f"http://127.0.0.1:{free_port()}/v1"), clock, mail_dir
    ):
        await sign_in(client, admin.email)
        outbox_page = (await client.get("/admin/outbox")).text
        assert MODEL_PROBE in outbox_page and "the model server is unreachable" in outbox_page
        page = await library(client)
        assert "The last exposure probe failed and gave no figure" in page
        assert "1 of 2 answers were written" in page
        assert 'data-probe="done"' not in page and "data-needs-redesign" not in page
        # With the probe over, a new one may be asked for.
        again = await post_form(
            client, f"/lead/prompts/{pid}/probe", {"answers": "1"}, follow_redirects=False
        )
        assert again.status_code == 303
