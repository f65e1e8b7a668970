"""Reviewers read the follow-up answers beside the main answer: the review slot opens
only once they have ended, and the review page, the lead's page, the report and its PDF
show each question with the candidate's answer (escaped), "not answered", refused
pastes and late text, and nothing that identifies the candidate."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from screen.authorship.follow_ups import follow_ups_for
from screen.demo import DEMO_FOLLOW_UP_ANSWERS, prepare_demo
from screen.platform.clock import FrozenClock
from screen.platform.models import Attempt, Invitation, Screen
from screen.platform.paths import PROMPTS_DIR
from screen.report.pdf import render_report_pdf
from screen.report.reports import build_report
from screen.settings import Settings
from tests.support.candidates import attempt_of, start
from tests.support.factories import Candidate, make_candidate, make_screen, make_user
from tests.support.follow_ups import FIRST_QUESTION, SECOND_QUESTION, make_follow_up_screen
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
JSON = {"Accept": "application/json"}
MARKUP = '<script>alert("follow-up")</script>'
FIRST_ANSWER = f"Recall per language; I'd measure it on the labelled set. {MARKUP}"


def new_client(app: Litestar) -> Client:
    return AsyncTestClient(app=app.state.make_app(), base_url="http://testserver.local")


async def next_review(client: Client) -> str:
    response = await post_form(client, "/review/next", follow_redirects=False)
    assert response.status_code == 303
    location: str = response.headers["location"]
    return location


async def follow_up_post(client: Client, candidate: Candidate, path: str, **kw: Any) -> Any:
    return await client.post(f"{candidate.path}/follow-up/{path}", **kw)


async def answer_first_and_let_the_second_lapse(
    client: Client, candidate: Candidate, clock: FrozenClock, settings: Settings
) -> None:
    await start(client, candidate)
    await client.post(
        f"{candidate.path}/submit", data={"revision": "0", "answer": "The main answer."}
    )
    await follow_up_post(client, candidate, "1/paste", json={"size": 400})
    clock.advance(seconds=50)
    await follow_up_post(
        client, candidate, "1/submit", data={"revision": "0", "answer": FIRST_ANSWER}
    )
    clock.advance(minutes=3, seconds=settings.grace_seconds + 1)
    late = await follow_up_post(
        client, candidate, "2/draft", json={"revision": 0, "answer": "too late"}, headers=JSON
    )
    assert late.status_code == 410


async def test_reviewers_wait_for_the_follow_ups_then_read_them_beside_the_answer(
    app: Litestar,
    client: Client,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
) -> None:
    screen = await make_follow_up_screen(db, clock.now())
    candidate = await make_candidate(
        db, settings, clock.now(), screen=screen, name="Zora Identifiable"
    )
    reviewer = await make_user(db, clock.now(), "reviewer", email="rev@staff.example")
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    recruiter = await make_user(db, clock.now(), "recruiter", email="rec@staff.example")

    async with new_client(app) as reviewing:
        await sign_in(reviewing, reviewer.email)
        await start(client, candidate)
        await client.post(
            f"{candidate.path}/submit", data={"revision": "0", "answer": "The main answer."}
        )
        while_open = await next_review(reviewing)

        await follow_up_post(client, candidate, "1/paste", json={"size": 400})
        clock.advance(seconds=50)
        await follow_up_post(
            client, candidate, "1/submit", data={"revision": "0", "answer": FIRST_ANSWER}
        )
        clock.advance(minutes=2, seconds=settings.grace_seconds + 1)
        late = await follow_up_post(
            client, candidate, "2/draft", json={"revision": 0, "answer": "too late"}, headers=JSON
        )
        review_page = await next_review(reviewing)
        page = (await reviewing.get(review_page)).text

    assert while_open == "/review?empty=1"
    assert late.status_code == 410
    assert review_page.startswith("/review/")
    assert "The main answer." in page
    assert "Follow-up questions about the answer" in page
    assert FIRST_QUESTION in page
    assert SECOND_QUESTION in page
    assert "Recall per language" in page
    assert MARKUP not in page
    assert "&lt;script&gt;" in page
    assert "Not answered" in page
    assert "1 paste attempt refused" in page
    assert "1 late save kept apart" in page
    assert "50 s of 3 min" in page
    assert "Context for reading the answer" in page
    assert "Zora" not in page and "zora@example.com" not in page

    attempt = await attempt_of(db, candidate)
    async with new_client(app) as leading:
        await sign_in(leading, lead.email)
        lead_page = (await leading.get(f"/lead/attempts/{attempt.id}")).text
    assert FIRST_QUESTION in lead_page
    assert "Not answered" in lead_page
    assert MARKUP not in lead_page

    async with new_client(app) as recruiting:
        await sign_in(recruiting, recruiter.email)
        report = (await recruiting.get(f"/reports/{candidate.invitation_id}")).text
    assert FIRST_QUESTION in report
    assert "Recall per language" in report
    assert "Not answered" in report
    assert MARKUP not in report


async def load_invitation(db: AsyncSession, invitation_id: int) -> Invitation:
    invitation = await db.scalar(
        select(Invitation)
        .where(Invitation.id == invitation_id)
        .options(
            joinedload(Invitation.attempt),
            joinedload(Invitation.screen).joinedload(Screen.prompt),
            joinedload(Invitation.prompt),
        )
        .execution_options(populate_existing=True)
    )
    assert invitation is not None
    return invitation


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


async def test_the_pdf_shows_the_follow_ups_and_which_dimension_scores_them(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(
        db, clock.now(), prompts_dir=PROMPTS_DIR, prompt_slug="halve-inference-cost"
    )
    candidate = await make_candidate(db, settings, clock.now(), screen=screen)
    await answer_first_and_let_the_second_lapse(client, candidate, clock, settings)

    invitation = await load_invitation(db, candidate.invitation_id)
    report = await build_report(db, invitation, clock.now())
    text = re.sub(r"\s+", "", pdf_text(render_report_pdf(report)))

    assert report.follow_ups is not None
    assert report.follow_ups.scored_by == "Failure modes and their detection"
    assert "Follow-upquestionsabouttheanswer" in text
    assert "ScoredunderFailuremodesandtheirdetection" in text
    assert re.sub(r"\s+", "", FIRST_ANSWER) in text  # the markup as the characters typed
    assert "Notanswered" in text
    assert "1pasteattempt(s)refused" in text
    assert "1latesave(s)keptapart" in text


async def test_a_report_of_a_prompt_without_follow_ups_has_no_follow_up_section(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)
    await client.post(f"{candidate.path}/submit", data={"revision": "0", "answer": "Mine."})

    report = await build_report(db, await load_invitation(db, candidate.invitation_id), clock.now())

    assert report.follow_ups is None
    assert "Follow-up" not in pdf_text(render_report_pdf(report))


async def test_in_the_demo_a_reviewer_reads_the_follow_up_answers(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    await prepare_demo(db, replace(settings, prompts_dir=PROMPTS_DIR), clock.now())
    await db.commit()
    timed_out = await db.scalar(
        select(Attempt.id)
        .join(Invitation, Attempt.invitation_id == Invitation.id)
        .where(Invitation.candidate_email == "edsger.timeout@example.com")
    )
    assert timed_out is not None

    async with new_client(app) as reviewing:
        await sign_in(reviewing, "reviewer2@demo.screen", "reviewer2-demo-pass")
        page = (await reviewing.get(await next_review(reviewing))).text
    lapsed = await follow_ups_for(db, timed_out)

    assert "Follow-up questions about the answer" in page
    assert "least sure of" in page
    assert DEMO_FOLLOW_UP_ANSWERS[0][:60] in page
    assert lapsed is not None
    assert [(i.answered, i.ended_by) for i in lapsed.items] == [(False, "deadline")] * 2
