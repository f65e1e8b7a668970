"""The AI-use policy of a screen (issue 16): chosen by the recruiter, stated to the
candidate on the email, the landing and the attempt page, acknowledged at Start and
copied onto the attempt; under `ai_disclosed` a disclosure at submit; shown to
reviewers, leads and in the report."""

from __future__ import annotations

import email
import email.policy
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from email.message import EmailMessage
from html import unescape
from pathlib import Path

from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.candidate import attempts
from screen.demo import DEMO_DISCLOSED_SCREEN_TITLE, prepare_demo
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import Attempt, AttemptState, AuditEvent, Invitation, Screen
from screen.platform.paths import PROMPTS_DIR
from screen.recruiting import ai_policy, screens
from screen.settings import Settings
from tests.support.candidates import attempt_of, start, start_form
from tests.support.factories import TEST_ACTOR, Candidate, make_candidate, make_screen, make_user
from tests.support.smtp import html_part, text_part
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]

DISCLOSURE = (
    "I asked Claude to list **failure modes** of pgvector under write load and kept two of "
    "them. <script>alert('x')</script> I wrote the cost model myself."
)
ANSWER = "We choose pgvector with HNSW because the p95 budget is 300 ms."


@asynccontextmanager
async def staff(
    app: Litestar, db: AsyncSession, clock: FrozenClock, role: str
) -> AsyncIterator[Client]:
    user = await make_user(db, clock.now(), role, email=f"{role}@staff.example")
    async with AsyncTestClient(
        app=app.state.make_app(), base_url="http://testserver.local"
    ) as client:
        await sign_in(client, user.email)
        yield client


async def screen_of(db: AsyncSession, screen_id: int) -> Screen:
    screen = await db.scalar(
        select(Screen).where(Screen.id == screen_id).execution_options(populate_existing=True)
    )
    assert screen is not None
    return screen


def edit_form(screen: Screen, policy: str) -> dict[str, str]:
    return {
        "title": screen.title,
        "duration_minutes": str(screen.duration_minutes),
        "link_valid_days": "7",
        "reviews_required": "2",
        "sla_business_days": "5",
        "reminder_hours": "48, 24",
        "ai_policy": policy,
    }


async def disclosed_candidate(
    db: AsyncSession, settings: Settings, clock: FrozenClock, name: str = "Dee Disclosed"
) -> Candidate:
    screen = await make_screen(db, clock.now(), ai_policy="ai_disclosed")
    await db.commit()
    return await make_candidate(db, settings, clock.now(), screen=screen, name=name)


def page_text(html: str) -> str:
    """What a reader sees: tags dropped, entities decoded, white space collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


async def test_a_recruiter_chooses_the_policy_on_create_and_edit_and_each_change_is_audited(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    await make_screen(db, clock.now())  # syncs the prompt library
    await db.commit()
    async with staff(app, db, clock, "recruiter") as client:
        form = await client.get("/recruiter/screens/new")
        prompt_id = re.search(r'<option value="(\d+)"', form.text)
        assert prompt_id
        fields = {
            "prompt_id": prompt_id.group(1),
            "title": "Data engineers, spring",
            "reminder_hours": "48",
        }
        unknown = await post_form(
            client, "/recruiter/screens", {**fields, "ai_policy": "anything_goes"}
        )
        created = await post_form(
            client,
            "/recruiter/screens",
            {**fields, "ai_policy": "ai_disclosed"},
            follow_redirects=False,
        )
        screen_id = int(created.headers["location"].rsplit("/", 1)[1])
        dashboard = await client.get(created.headers["location"])
        edit_page = await client.get(f"/recruiter/screens/{screen_id}/edit")
        screen = await screen_of(db, screen_id)
        bad_edit = await post_form(
            client, f"/recruiter/screens/{screen_id}/edit", edit_form(screen, "yolo")
        )
        after_bad_edit = (await screen_of(db, screen_id)).ai_policy
        edited = await post_form(
            client,
            f"/recruiter/screens/{screen_id}/edit",
            edit_form(screen, "ai_allowed"),
            follow_redirects=False,
        )

    assert "No AI assistants" in form.text and "AI allowed, with disclosure" in form.text
    assert re.search(r'value="no_ai"\s+checked', form.text), "no_ai is the default"
    assert unknown.status_code == 400
    assert "AI-use policy must be one of no_ai, ai_disclosed, ai_allowed" in unknown.text
    assert 'value="Data engineers, spring"' in unknown.text  # the form is given back
    assert created.status_code == 303
    assert "AI allowed, with disclosure" in dashboard.text
    assert re.search(r'value="ai_disclosed"\s+checked', edit_page.text)
    assert "applies to candidates who have not started yet" in page_text(edit_page.text)
    assert bad_edit.status_code == 400
    assert "AI-use policy must be one of" in bad_edit.text
    assert after_bad_edit == "ai_disclosed"
    assert edited.status_code == 303
    assert (await screen_of(db, screen_id)).ai_policy == "ai_allowed"
    events = list(
        await db.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == "screen", AuditEvent.subject_id == str(screen_id))
            .order_by(AuditEvent.id)
        )
    )
    assert [e.action for e in events] == ["screen.created", "screen.updated"]
    assert events[0].after is not None and events[0].after["ai_policy"] == "ai_disclosed"
    assert events[1].before is not None and events[1].before["ai_policy"] == "ai_disclosed"
    assert events[1].after is not None and events[1].after["ai_policy"] == "ai_allowed"


async def test_no_one_but_recruiters_changes_a_screens_policy(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    for role in ("reviewer", "lead", "hiring_manager"):
        async with staff(app, db, clock, role) as client:
            await client.get("/")  # a page, for the CSRF cookie
            refused = await post_form(
                client,
                f"/recruiter/screens/{screen.id}/edit",
                edit_form(screen, "ai_allowed"),
                follow_redirects=False,
            )
        assert refused.status_code == 403, role
    async with AsyncTestClient(app=app.state.make_app(), base_url="http://testserver.local") as c:
        anonymous = await c.post(
            f"/recruiter/screens/{screen.id}/edit",
            data=edit_form(screen, "ai_allowed"),
            follow_redirects=False,
        )
    assert anonymous.status_code in (401, 403)
    assert (await screen_of(db, screen.id)).ai_policy == "no_ai"


async def test_the_invitation_email_states_the_policy_in_plain_words(
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
    mail_dir: Path,
) -> None:
    await disclosed_candidate(db, settings, clock)
    await runner.tick()
    await runner.drain()

    [path] = list(mail_dir.glob("*.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    words = ai_policy.WORDING[ai_policy.AiPolicy.AI_DISCLOSED]
    text = " ".join(text_part(message).split())
    assert f"AI-use policy: {words.label}. {words.email}" in text
    html = page_text(html_part(message))
    assert f"AI-use policy: {words.label}. {words.email}" in html


async def test_the_landing_page_states_the_policy_and_that_the_writing_is_recorded(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    no_ai = await make_candidate(db, settings, clock.now())
    disclosed = await disclosed_candidate(db, settings, clock)

    plain = page_text((await client.get(no_ai.path)).text)
    landing = await client.get(disclosed.path)
    told = page_text(landing.text)

    assert "AI-use policy: No AI assistants" in plain
    assert "You may use your own notes and look things up in documentation." in plain
    assert "Work on your own" not in plain
    assert "AI-use policy: AI allowed, with disclosure" in told
    assert "you must describe how you used them: what you asked and what you kept" in told
    for page in (plain, told):
        assert "How your answer is written (what is typed, pasted and edited, and when)" in page
        assert "is recorded with it, and reviewers can replay it" in page
    assert re.search(
        r'<input type="checkbox" id="acknowledge" name="acknowledge"[^>]*required', landing.text
    )
    assert 'name="ai_policy" value="ai_disclosed:1"' in landing.text


async def test_start_requires_the_acknowledgement_and_copies_the_policy_onto_the_attempt(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await disclosed_candidate(db, settings, clock)
    await client.get(candidate.path)

    unticked = await client.post(
        f"{candidate.path}/start",
        data={"ai_policy": f"ai_disclosed:{ai_policy.POLICY_VERSION}"},
        follow_redirects=False,
    )
    not_started = await attempt_of(db, candidate)
    before = (
        not_started.state,
        not_started.started_at,
        not_started.ai_policy,
        not_started.ai_acknowledged_at,
    )
    wrong_value = await client.post(
        f"{candidate.path}/start",
        data={"acknowledge": "on", "ai_policy": "ai_disclosed:1"},
        follow_redirects=False,
    )
    clock.advance(seconds=30)
    await start(client, candidate, "ai_disclosed")
    started = await attempt_of(db, candidate)

    assert unticked.status_code == 400
    assert "tick the box to confirm you have read the AI-use policy" in unticked.text
    assert "The clock has not started." in unticked.text
    assert "Back to your exercise" in unticked.text
    assert wrong_value.status_code == 400
    assert before == (AttemptState.OPENED, None, None, None)
    assert started.state == AttemptState.STARTED
    assert started.ai_policy == "ai_disclosed"
    assert started.ai_policy_version == ai_policy.POLICY_VERSION
    assert started.ai_acknowledged_at == clock.now() == started.started_at


async def test_a_start_against_a_policy_changed_since_the_page_was_opened_is_refused(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await client.get(candidate.path)  # reads "No AI assistants"
    screen = await screens.get_screen(db, candidate.screen.id)
    await screens.update_screen(
        db,
        screen,
        **{k: v for k, v in screens.snapshot(screen).items() if k != "ai_policy"},  # type: ignore[arg-type]
        ai_policy="ai_allowed",
        now=clock.now(),
        actor=TEST_ACTOR,
    )
    await db.commit()

    stale = await client.post(f"{candidate.path}/start", data=start_form("no_ai"))
    attempt = await attempt_of(db, candidate)
    reread = page_text((await client.get(candidate.path)).text)

    assert stale.status_code == 409
    assert "The AI-use policy for this exercise changed after this page was opened" in stale.text
    assert attempt.started_at is None
    assert "AI-use policy: AI allowed" in reread


async def test_changing_a_screens_policy_affects_only_attempts_not_yet_started(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    early = await make_candidate(db, settings, clock.now(), name="Early Bird")
    late = await make_candidate(db, settings, clock.now(), screen=early.screen, name="Late Owl")
    await start(client, early, "no_ai")
    screen = await screens.get_screen(db, early.screen.id)
    await screens.update_screen(
        db,
        screen,
        **{k: v for k, v in screens.snapshot(screen).items() if k != "ai_policy"},  # type: ignore[arg-type]
        ai_policy="ai_disclosed",
        now=clock.now(),
        actor=TEST_ACTOR,
    )
    await db.commit()
    await start(client, late, "ai_disclosed")

    early_page = await client.get(f"{early.path}/attempt")
    late_page = await client.get(f"{late.path}/attempt")
    early_submit = await client.post(
        f"{early.path}/submit", data={"revision": "0", "answer": ANSWER}, follow_redirects=False
    )

    assert (await attempt_of(db, early)).ai_policy == "no_ai"
    assert (await attempt_of(db, late)).ai_policy == "ai_disclosed"
    assert "AI-use policy: No AI assistants" in page_text(early_page.text)
    assert 'name="ai_disclosure"' not in early_page.text
    assert "AI-use policy: AI allowed, with disclosure" in page_text(late_page.text)
    assert re.search(
        r'<textarea id="ai-disclosure" name="ai_disclosure"[^>]*required', late_page.text
    )
    assert 'name="ai_conversation"' in late_page.text
    assert early_submit.status_code == 303  # no disclosure asked of it
    assert (await attempt_of(db, early)).state == AttemptState.SUBMITTED


async def test_a_submit_without_a_disclosure_is_refused_and_keeps_every_word(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await disclosed_candidate(db, settings, clock)
    await start(client, candidate, "ai_disclosed")
    clock.advance(minutes=20)
    conversation = "Me: which index for 10M vectors?\nAssistant: HNSW, if memory allows."

    refused = await client.post(
        f"{candidate.path}/submit",
        data={
            "revision": "0",
            "answer": ANSWER,
            "ai_disclosure": "  \r\n ",
            "ai_conversation": conversation,
        },
    )
    kept = await attempt_of(db, candidate)
    kept_then = (kept.state, kept.draft, kept.revision, kept.ai_disclosure, kept.ai_conversation)
    accepted = await client.post(
        f"{candidate.path}/submit",
        data={
            "revision": "1",
            "answer": ANSWER + " Final.",
            "ai_disclosure": "I asked about index types and kept HNSW.",
            "ai_conversation": conversation,
        },
        follow_redirects=False,
    )
    submitted = await attempt_of(db, candidate)

    assert refused.status_code == 400
    assert "describe how you used AI tools" in refused.text
    assert "Your answer has been saved." in refused.text
    assert ANSWER in refused.text
    assert "Me: which index for 10M vectors?" in refused.text  # the conversation, as pasted
    assert 'aria-invalid="true"' in refused.text
    assert 'name="revision" id="revision" value="1"' in refused.text
    assert kept_then == (AttemptState.STARTED, ANSWER, 1, None, None)
    assert accepted.status_code == 303
    assert submitted.state == AttemptState.SUBMITTED
    assert submitted.final_answer == ANSWER + " Final."
    assert submitted.ai_disclosure == "I asked about index types and kept HNSW."
    assert submitted.ai_conversation == conversation


async def test_an_oversized_disclosure_or_conversation_is_refused_and_changes_nothing(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await disclosed_candidate(db, settings, clock)
    await start(client, candidate, "ai_disclosed")
    too_long = "x" * (ai_policy.MAX_DISCLOSURE_CHARS + 1)
    too_big = "é" * (ai_policy.MAX_CONVERSATION_BYTES // 2 + 1)  # under the limit in characters

    long_disclosure = await client.post(
        f"{candidate.path}/submit",
        data={"revision": "0", "answer": ANSWER, "ai_disclosure": too_long},
    )
    big_conversation = await client.post(
        f"{candidate.path}/submit",
        data={
            "revision": "0",
            "answer": ANSWER,
            "ai_disclosure": "Used none.",
            "ai_conversation": too_big,
        },
    )
    attempt = await attempt_of(db, candidate)
    just_fits = await client.post(
        f"{candidate.path}/submit",
        data={
            "revision": "0",
            "answer": ANSWER,
            "ai_disclosure": "y" * ai_policy.MAX_DISCLOSURE_CHARS,
            "ai_conversation": "a" * ai_policy.MAX_CONVERSATION_BYTES,
        },
        follow_redirects=False,
    )

    assert long_disclosure.status_code == 413
    assert "the limit is 20,000. Shorten it" in long_disclosure.text
    assert big_conversation.status_code == 413
    assert "the limit is 204,800 bytes (200 KB)" in big_conversation.text
    for refused in (long_disclosure, big_conversation):
        assert ANSWER in refused.text  # given back, not lost
        assert "data-unsaved" in refused.text  # so the page's script saves it
    assert attempt.state == AttemptState.STARTED
    assert attempt.revision == 0 and attempt.draft == ""
    assert attempt.ai_disclosure is None and attempt.ai_conversation is None
    assert just_fits.status_code == 303


async def test_an_answer_the_clock_submits_needs_no_disclosure_and_says_time_ran_out(
    app: Litestar, client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    by_page = await disclosed_candidate(db, settings, clock, name="Pat Page")
    last_seconds = await make_candidate(
        db, settings, clock.now(), screen=by_page.screen, name="Lou Last"
    )
    by_sweep = await make_candidate(
        db, settings, clock.now(), screen=by_page.screen, name="Sid Sweep"
    )
    for candidate in (by_page, last_seconds, by_sweep):
        await start(client, candidate, "ai_disclosed")
    await client.post(f"{by_sweep.path}/draft", json={"revision": 0, "answer": "Swept answer."})

    clock.advance(minutes=30, seconds=-3)  # the candidate presses Submit in the last seconds
    in_time = await client.post(
        f"{last_seconds.path}/submit",
        data={"revision": "0", "answer": ANSWER},
        follow_redirects=False,
    )
    clock.advance(seconds=5)  # the page's countdown ran out and it submitted by itself
    at_deadline = await client.post(
        f"{by_page.path}/submit", data={"revision": "0", "answer": ANSWER}, follow_redirects=False
    )
    clock.advance(minutes=5)
    await attempts.sweep(db, clock.now(), settings.grace_seconds)
    await db.commit()

    assert in_time.status_code == 303 and at_deadline.status_code == 303
    assert (await attempt_of(db, by_page)).state == AttemptState.AUTO_SUBMITTED
    assert (await attempt_of(db, by_sweep)).state == AttemptState.AUTO_SUBMITTED
    async with staff(app, db, clock, "lead") as lead:
        for candidate in (by_page, last_seconds, by_sweep):
            attempt = await attempt_of(db, candidate)
            assert attempt.ai_disclosure is None
            page = page_text((await lead.get(f"/lead/attempts/{attempt.id}")).text)
            assert "No disclosure: time ran out" in page


async def test_reviewers_leads_and_the_report_show_the_policy_and_the_disclosure_escaped(
    app: Litestar, client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await disclosed_candidate(db, settings, clock, name="Zed Quasimodo")
    await start(client, candidate, "ai_disclosed")
    clock.advance(minutes=12)
    await client.post(
        f"{candidate.path}/submit",
        data={
            "revision": "0",
            "answer": ANSWER,
            "ai_disclosure": DISCLOSURE,
            "ai_conversation": "User: <b>hi</b>\nAssistant: hello",
        },
    )
    attempt = await attempt_of(db, candidate)

    async with staff(app, db, clock, "reviewer") as reviewer:
        claimed = await post_form(reviewer, "/review/next", follow_redirects=False)
        review = await reviewer.get(claimed.headers["location"])
    async with staff(app, db, clock, "lead") as lead:
        lead_page = await lead.get(f"/lead/attempts/{attempt.id}")
    async with staff(app, db, clock, "recruiter") as recruiter:
        report = await recruiter.get(f"/reports/{candidate.invitation_id}")
        pdf = await recruiter.get(f"/reports/{candidate.invitation_id}/pdf")

    for page in (review, lead_page, report):
        assert page.status_code == 200
        seen = page_text(page.text)
        assert "AI-use policy and disclosure" in seen
        assert "AI allowed, with disclosure (wording version 1)" in seen
        assert "How the candidate says they used AI" in seen
        assert "<strong>failure modes</strong>" in page.text  # Markdown, like the answer
        assert "<script>alert" not in page.text and "<b>hi</b>" not in page.text
        assert "User: &lt;b&gt;hi&lt;/b&gt;" in page.text
    for scoring in (review, lead_page):
        assert "Quasimodo" not in scoring.text
        assert "by pressing Start" in page_text(scoring.text)
    assert "Quasimodo" in report.text  # the report names the candidate; scoring pages never do
    assert pdf.status_code == 200
    extracted = " ".join(
        " ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf.content)).pages
    )
    assert "AI-use policy and disclosure" in extracted
    assert "I asked Claude to list **failure modes** of pgvector" in extracted


async def test_the_attempt_page_states_the_policy_the_candidate_acknowledged(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    await start(client, candidate)

    page = page_text((await client.get(f"{candidate.path}/attempt")).text)

    assert "AI-use policy: No AI assistants" in page
    assert "do not ask another person for help" in page
    assert "You may use your own notes and look things up in documentation." in page


async def test_the_demo_has_a_disclosed_screen_whose_answer_a_reviewer_can_read(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    # The demo is written for the real library (its durations and exemplars).
    await prepare_demo(db, replace(settings, prompts_dir=PROMPTS_DIR), clock.now())
    await db.commit()
    screen = await db.scalar(select(Screen).where(Screen.title == DEMO_DISCLOSED_SCREEN_TITLE))
    assert screen is not None and screen.ai_policy == "ai_disclosed"
    rows = (
        await db.execute(
            select(Invitation.candidate_email, Attempt)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .where(Invitation.screen_id == screen.id)
        )
    ).all()
    by_email = {row[0]: row[1] for row in rows}
    mira, omar = by_email["mira.disclosed@example.com"], by_email["omar.outoftime@example.com"]

    async with staff(app, db, clock, "lead") as lead:
        disclosed = page_text((await lead.get(f"/lead/attempts/{mira.id}")).text)
        ran_out = page_text((await lead.get(f"/lead/attempts/{omar.id}")).text)

    assert mira.state == AttemptState.SUBMITTED and omar.state == AttemptState.AUTO_SUBMITTED
    assert "I used ChatGPT for two things." in disclosed
    assert "The conversation the candidate pasted" in disclosed
    assert "No disclosure: time ran out" in ran_out
