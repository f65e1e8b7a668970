"""Where the model's rating is seen once the humans decided: the lead's page of the answer
and the candidate report (page and PDF), labelled as a model's check with its evidence,
never before the decision and never on a reviewer's page. The ratings come through the
product's own path: the outbox's `model.rate` against a Chat Completions peer on loopback.
"""

from __future__ import annotations

import io

from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import ModelRating, OutboxEvent, OutboxStatus, Review
from screen.review import model_check
from screen.review.model_rater import MODEL_RATE
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user, score_next
from tests.support.model_server import ChatPeer, rating
from tests.support.staff import sign_in

Client = AsyncTestClient[Litestar]
KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
HOSTILE = "<script>alert(1)</script>"
# The peer quotes the answer's first six words as its evidence: hostile text included.
ANSWER = (
    f"{HOSTILE} We choose pgvector with HNSW because the p95 budget is 300 ms and "
    "$4,000 a month rules out a managed store."
)
EVIDENCE = f"{HOSTILE} We choose pgvector with HNSW"
LABEL = "A model's check, not part of the decision"


async def run_model_jobs(runner: InProcessRunner, db: AsyncSession) -> None:
    """Until no rating event waits: a run that scores a calibration exemplar queues the
    answer's rating again."""
    for _ in range(6):
        await runner.tick()
        await runner.drain()
        waiting = await db.scalar(
            select(OutboxEvent.id)
            .where(OutboxEvent.kind == MODEL_RATE, OutboxEvent.status != OutboxStatus.DONE)
            .limit(1)
            .execution_options(populate_existing=True)
        )
        if waiting is None:
            return
    raise AssertionError("a model.rate event is still waiting")


def use_model(runner: InProcessRunner, settings: Settings, url: str) -> None:
    assert runner.context is not None
    runner.context.settings = settings.with_overrides(model_url=url, model_name="peer-7b")


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def squeezed(text: str) -> str:
    return "".join(text.split())


async def reviewer_pages(client: Client, db: AsyncSession, reviewer_id: int) -> str:
    """Every page of a reviewer's own: the review desk and each review they hold or wrote."""
    desk = await client.get("/review")
    assert desk.status_code == 200
    pages = [desk.text]
    for review_id in await db.scalars(select(Review.id).where(Review.reviewer_id == reviewer_id)):
        page = await client.get(f"/review/{review_id}")
        assert page.status_code == 200, page.text[:300]
        pages.append(page.text)
    assert len(pages) == 2  # the desk and their one review of this answer
    return "\n".join(pages)


async def test_a_lead_sees_the_models_rating_only_after_the_decision_and_reviewers_never(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    client: Client,
) -> None:
    now = clock.now()
    # Level 1 everywhere: the model passes the weak exemplar's gate and rates the answer.
    async with ChatPeer(default=rating(1)) as peer:
        use_model(runner, settings, peer.url)
        screen = await make_screen(db, now, calibration_threshold=None)
        candidate = await make_submitted(
            db, settings, now, screen=screen, name="Rosa Parker", answer=ANSWER
        )
        await run_model_jobs(runner, db)
    attempt_id = candidate.invitation.attempt.id
    [live] = await db.scalars(select(ModelRating).where(ModelRating.attempt_id == attempt_id))
    assert live.status == "rated" and live.ratings["first_week"]["evidence"] == EVIDENCE

    first = await make_user(db, now, "reviewer", email="r1@staff.example", name="Ada Reviewer")
    second = await make_user(db, now, "reviewer", email="r2@staff.example", name="Bo Reviewer")
    lead = await make_user(db, now, "lead", email="lead@staff.example")
    recruiter = await make_user(db, now, "recruiter", email="rec@staff.example")
    await score_next(db, first, dict.fromkeys(KEYS, 4), now)

    # One review in: no decision, so no model on the lead's page, the report or the desk.
    await sign_in(client, lead.email)
    before = (await client.get(f"/lead/attempts/{attempt_id}")).text
    assert "No decision yet" in before
    assert "peer-7b" not in before and "model's check" not in before
    await sign_in(client, recruiter.email)
    report = await client.get(f"/reports/{candidate.invitation_id}")
    assert report.status_code == 200 and "peer-7b" not in report.text
    assert "peer-7b" not in pdf_text(
        (await client.get(f"/reports/{candidate.invitation_id}/pdf")).content
    )

    await score_next(db, second, dict.fromkeys(KEYS, 4), now)
    await sign_in(client, lead.email)
    page = await client.get(f"/lead/attempts/{attempt_id}")
    assert page.status_code == 200
    html = page.text
    assert "Pass" in html and LABEL in html
    assert "model: peer-7b" in html
    assert "not a check score on this prompt when it rated: it only collected evidence" in html
    assert "so it could not ask for another review" in html
    disagrees = "the model&#39;s levels give fail where the reviews give pass"
    assert f"It disagrees with the decision: {disagrees}." in html
    # Per dimension: the reviewers' 4 and 4 with their mean, the model's 1, its quote.
    assert '<td class="num">4, 4 <span class="sub">mean 4.00</span></td>' in html
    assert html.count('<td class="model-level"><strong>1</strong><q class="evidence">') == len(KEYS)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; We choose pgvector with HNSW" in html
    assert HOSTILE not in html

    # The reviewers who scored it never see it, on the desk or on their own reviews.
    for reviewer in (first, second):
        await sign_in(client, reviewer.email)
        seen = await reviewer_pages(client, db, reviewer.id)
        for hidden in ("peer-7b", "model's check", "We choose pgvector with HNSW</q>"):
            assert hidden not in seen
        assert (await client.get(f"/lead/attempts/{attempt_id}")).status_code == 403


async def test_evidence_that_is_not_a_quote_is_never_shown_as_one(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    client: Client,
) -> None:
    now = clock.now()
    invented = "The candidate benchmarked recall on day one"
    async with ChatPeer(default=rating(1, evidence=invented)) as peer:
        use_model(runner, settings, peer.url)
        # The gate is the weak exemplar's: the model's invented quotes do not stop it.
        screen = await make_screen(db, now, calibration_threshold=None)
        candidate = await make_submitted(
            db, settings, now, screen=screen, name="Rosa Parker", answer=ANSWER
        )
        await run_model_jobs(runner, db)
    for n in range(2):
        reviewer = await make_user(db, now, "reviewer", email=f"r{n}@staff.example")
        await score_next(db, reviewer, dict.fromkeys(KEYS, 4), now)
    lead = await make_user(db, now, "lead", email="lead@staff.example")
    await sign_in(client, lead.email)
    html = (await client.get(f"/lead/attempts/{candidate.invitation.attempt.id}")).text
    assert LABEL in html
    assert html.count("its evidence is not a quote from the answer, so it is not shown") == len(
        KEYS
    )
    assert invented not in html
    manager = await make_user(db, now, "recruiter", email="rec@staff.example")
    await sign_in(client, manager.email)
    report = (await client.get(f"/reports/{candidate.invitation_id}")).text
    assert LABEL in report and invented not in report
    text = pdf_text((await client.get(f"/reports/{candidate.invitation_id}/pdf")).content)
    assert squeezed(LABEL) in squeezed(text)
    assert squeezed(invented) not in squeezed(text)
    assert squeezed(text).count(squeezed("not a quote from the answer, so not shown")) == len(KEYS)


async def test_the_report_shows_the_models_check_labelled_and_escaped_page_and_pdf(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    client: Client,
) -> None:
    now = clock.now()
    async with ChatPeer(default=rating(1)) as peer:
        use_model(runner, settings, peer.url)
        screen = await make_screen(db, now, calibration_threshold=None)
        candidate = await make_submitted(
            db, settings, now, screen=screen, name="Rosa Parker", answer=ANSWER
        )
        await run_model_jobs(runner, db)
    for n in range(2):
        reviewer = await make_user(db, now, "reviewer", email=f"r{n}@staff.example")
        await score_next(db, reviewer, dict.fromkeys(KEYS, 4), now)
    manager = await make_user(db, now, "recruiter", email="rec@staff.example")
    await sign_in(client, manager.email)

    page = (await client.get(f"/reports/{candidate.invitation_id}")).text
    assert LABEL in page and "model: peer-7b" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; We choose pgvector with HNSW" in page
    assert HOSTILE not in page
    assert "its levels were never counted in the decision" in page
    # The decision is the humans': a pass at 4.00, the model's 1.00 beside it.
    assert "Pass · weighted score 4.00" in page
    assert '<td class="model-level"><strong>1.00</strong> <span class="sub">differs by 3.00' in page

    text = pdf_text((await client.get(f"/reports/{candidate.invitation_id}/pdf")).content)
    assert "A model's check, not part of the decision" in text
    assert "model: peer-7b" in text
    # The quote is the characters typed, not markup the PDF renderer parsed.
    assert squeezed(EVIDENCE) in squeezed(text)
    assert squeezed("the model's levels give fail where the reviews give pass") in squeezed(text)


async def test_a_waived_check_that_asked_for_another_review_says_so(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    client: Client,
) -> None:
    now = clock.now()
    async with ChatPeer(default=rating(1)) as peer:
        use_model(runner, settings, peer.url)
        screen = await make_screen(db, now, calibration_threshold=None)
        await make_submitted(db, settings, now, screen=screen, email="one@example.com")
        await run_model_jobs(runner, db)
        admin = await make_user(db, now, "admin", email="admin@staff.example")
        await model_check.waive(
            db, admin, "model: peer-7b", "sample-decision", "Pilot the check here", now
        )
        await db.commit()
        checked = await make_submitted(
            db, settings, now, screen=screen, email="two@example.com", answer=ANSWER
        )
        await run_model_jobs(runner, db)
    attempt_id = checked.invitation.attempt.id
    reviewers = [
        await make_user(db, now, "reviewer", email=f"rev{n}@staff.example") for n in range(3)
    ]
    for reviewer in reviewers[:2]:
        for _ in range(2):
            await score_next(db, reviewer, dict.fromkeys(KEYS, 4), now)
    lead = await make_user(db, now, "lead", email="lead@staff.example")
    await sign_in(client, lead.email)
    # The check asked for a third review: still no decision, so still no model shown.
    waiting = (await client.get(f"/lead/attempts/{attempt_id}")).text
    assert "No decision yet" in waiting and "peer-7b" not in waiting

    await score_next(db, reviewers[2], dict.fromkeys(KEYS, 4), now)
    html = (await client.get(f"/lead/attempts/{attempt_id}")).text
    assert "a check score on this prompt: an admin waived the validity rule for it" in html
    assert "it <strong>asked for one more human review</strong>" in html
    assert '<td class="num">4, 4, 4 <span class="sub">mean 4.00</span></td>' in html

    await sign_in(client, admin.email)
    text = pdf_text((await client.get(f"/reports/{checked.invitation_id}/pdf")).content)
    assert squeezed("an admin waived the validity rule for it") in squeezed(text)
    assert squeezed("it asked for one more human review") in squeezed(text)


async def test_a_waived_check_that_rated_after_the_decision_says_it_came_too_late(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    client: Client,
) -> None:
    now = clock.now()
    reviewers = [
        await make_user(db, now, "reviewer", email=f"rev{n}@staff.example") for n in range(2)
    ]
    admin = await make_user(db, now, "admin", email="admin@staff.example")
    async with ChatPeer(default=rating(1)) as peer:
        use_model(runner, settings, peer.url)
        screen = await make_screen(db, now, calibration_threshold=None)
        await make_submitted(db, settings, now, screen=screen, email="one@example.com")
        await run_model_jobs(runner, db)
        await model_check.waive(
            db, admin, "model: peer-7b", "sample-decision", "Pilot the check here", now
        )
        await db.commit()
        # The model is slower than the reviewers: both score before it rates this answer.
        late = await make_submitted(
            db, settings, now, screen=screen, email="two@example.com", answer=ANSWER
        )
        for reviewer in reviewers:
            for _ in range(2):
                await score_next(db, reviewer, dict.fromkeys(KEYS, 4), now)
        await run_model_jobs(runner, db)
    attempt_id = late.invitation.attempt.id
    rated = await db.scalar(select(ModelRating).where(ModelRating.attempt_id == attempt_id))
    assert rated is not None and rated.check_active and rated.check_requested_at is None

    await sign_in(client, admin.email)
    html = (await client.get(f"/lead/attempts/{attempt_id}")).text
    assert "Pass" in html and "an admin waived the validity rule for it" in html
    assert "it rated after the decision was made, too late to ask for another review" in html
    assert "It disagrees with the decision" in html
    text = pdf_text((await client.get(f"/reports/{late.invitation_id}/pdf")).content)
    assert squeezed("too late to ask for another review") in squeezed(text)
