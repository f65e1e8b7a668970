"""The lead's forms forgive (issue 17): a refusal re-renders the same page with the problem
beside its field and what was typed kept, answers 4xx, and changes nothing."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import (
    AuditEvent,
    Decision,
    LeakedAnswer,
    Review,
    ReviewerCalibration,
    ReviewStatus,
)
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user
from tests.support.reports import same, score
from tests.support.staff import post_form, sign_in

BASE = "http://testserver.local"


async def dispute(db: AsyncSession, settings: Settings, clock: FrozenClock) -> int:
    await make_submitted(db, settings, clock.now())
    first = await make_user(db, clock.now(), "reviewer", email="ada@staff.example", name="Ada")
    second = await make_user(db, clock.now(), "reviewer", email="bo@staff.example", name="Bo")
    await score(db, first, same(4), clock.now(), recommendation="strong_yes")
    return await score(db, second, same(2), clock.now(), recommendation="no")


async def audit_count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count(AuditEvent.id))) or 0)


async def test_a_refused_adjudication_keeps_the_choice_and_the_reason(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    attempt_id = await dispute(db, settings, clock)
    lead = await make_user(db, clock.now(), "lead", email="lee@staff.example")
    events = await audit_count(db)
    path = f"/lead/attempts/{attempt_id}/adjudicate"
    async with AsyncTestClient(app=app, base_url=BASE) as client:
        await sign_in(client, lead.email)
        await client.get(f"/lead/attempts/{attempt_id}")
        no_outcome = await post_form(client, path, {"reason": "Cost arithmetic holds up well."})
        short = await post_form(client, path, {"outcome": "fail", "reason": "meh"})

    assert no_outcome.status_code == 400
    assert 'class="field-problem" id="outcome-problem">Choose pass or fail.</p>' in (
        no_outcome.text
    )
    assert ">Cost arithmetic holds up well.</textarea>" in no_outcome.text
    assert 'class="staff-nav"' in no_outcome.text  # the page, not a bare error page
    assert short.status_code == 400
    assert 'id="reason-problem">Give a reason of 10 to 2000 characters.</p>' in short.text
    assert 'value="fail" checked' in short.text
    assert ">meh</textarea>" in short.text
    assert await db.scalar(select(Decision.outcome)) == "needs_adjudication"
    assert await audit_count(db) == events


async def test_an_admins_override_without_a_reason_is_refused_in_place(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    attempt_id = await dispute(db, settings, clock)
    await make_user(db, clock.now(), "lead", email="lee@staff.example", name="Lee")
    admin = await make_user(db, clock.now(), "admin", email="ann@staff.example")
    async with AsyncTestClient(app=app, base_url=BASE) as client:
        await sign_in(client, admin.email)
        await client.get(f"/lead/attempts/{attempt_id}")
        refused = await post_form(
            client,
            f"/lead/attempts/{attempt_id}/adjudicate",
            {
                "outcome": "pass",
                "reason": "The 4s are backed by the numbers.",
                "override_reason": "",
            },
        )

    assert refused.status_code == 400
    assert 'id="override_reason-problem">As an admin you decide in place of a lead' in refused.text
    assert 'aria-invalid="true" aria-describedby="override_reason-problem"' in refused.text
    assert ">The 4s are backed by the numbers.</textarea>" in refused.text
    assert 'value="pass" checked' in refused.text
    assert await db.scalar(select(Decision.outcome)) == "needs_adjudication"


async def test_a_refused_reopen_and_release_keep_the_reason_and_change_nothing(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    attempt_id = await dispute(db, settings, clock)
    lead = await make_user(db, clock.now(), "lead", email="lee@staff.example")
    review_id = await db.scalar(select(Review.id).where(Review.slot == 1))
    async with AsyncTestClient(app=app, base_url=BASE) as client:
        await sign_in(client, lead.email)
        await client.get(f"/lead/attempts/{attempt_id}")
        reopen = await post_form(client, f"/lead/reviews/{review_id}/reopen", {"reason": "short"})
        status_after_refusal = await db.scalar(select(Review.status).where(Review.id == review_id))
        await post_form(
            client, f"/lead/reviews/{review_id}/reopen", {"reason": "Notes quote nothing at all."}
        )
        release = await post_form(client, f"/lead/reviews/{review_id}/release", {"reason": "gone"})

    assert reopen.status_code == 400
    assert f'id="reopen-{review_id}-problem" role="alert">Give a reason of 10' in reopen.text
    assert ">short</textarea>" in reopen.text
    assert "<h1" in reopen.text and "Reviews and decision" in reopen.text
    assert status_after_refusal == ReviewStatus.SUBMITTED
    assert release.status_code == 400
    assert f'id="release-{review_id}-problem" role="alert">Give a reason of 10' in release.text
    assert ">gone</textarea>" in release.text
    assert '<h1 id="adj-title">Adjudication</h1>' in release.text
    assert (
        await db.scalar(select(Review.status).where(Review.id == review_id))
        == ReviewStatus.REOPENED
    )


async def test_the_waiver_picker_refuses_anyone_not_in_it(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    await make_screen(db, clock.now(), calibration_threshold=0.8)
    reviewer = await make_user(db, clock.now(), "reviewer", email="rev@staff.example", name="Rev")
    recruiter = await make_user(db, clock.now(), "recruiter", email="rec@staff.example")
    lead = await make_user(db, clock.now(), "lead", email="lee@staff.example")
    reason = "Calibrated on the same rubric last quarter."
    async with AsyncTestClient(app=app, base_url=BASE) as client:
        await sign_in(client, lead.email)
        page = await client.get("/lead/calibration")
        not_a_reviewer = await post_form(
            client,
            "/lead/calibration/waive",
            {"reviewer": str(recruiter.id), "prompt": "sample-decision", "reason": reason},
        )
        garbage = await post_form(
            client,
            "/lead/calibration/waive",
            {"reviewer": "rev@staff.exmaple", "prompt": "sample-decision", "reason": reason},
        )
        no_prompt = await post_form(
            client,
            "/lead/calibration/waive",
            {"reviewer": str(reviewer.id), "prompt": "no-such-prompt", "reason": reason},
        )
        short = await post_form(
            client,
            "/lead/calibration/waive",
            {"reviewer": str(reviewer.id), "prompt": "sample-decision", "reason": "trust"},
        )

    assert page.status_code == 200
    assert 'href="/lead/calibration" aria-current="page">Calibration waivers</a>' in page.text
    assert '<select id="reviewer" name="reviewer" required>' in page.text
    assert f'<option value="{recruiter.id}">' not in page.text
    for refused in (not_a_reviewer, garbage):
        assert refused.status_code == 400
        assert 'id="reviewer-problem">Choose a reviewer from the list.</p>' in refused.text
        assert f">{reason}</textarea>" in refused.text
    assert no_prompt.status_code == 400
    assert 'id="prompt-problem">Choose a prompt from the list.</p>' in no_prompt.text
    assert short.status_code == 400
    assert 'id="reason-problem">Give a reason of 10 to 1000 characters.</p>' in short.text
    assert f'<option value="{reviewer.id}" selected>Rev (rev@staff.example)</option>' in short.text
    assert ">trust</textarea>" in short.text
    assert await db.scalar(select(func.count(ReviewerCalibration.id))) == 0


async def test_a_refused_leaked_answer_keeps_what_was_typed(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    await make_screen(db, clock.now())
    lead = await make_user(db, clock.now(), "lead", email="lee@staff.example")
    async with AsyncTestClient(app=app, base_url=BASE) as client:
        await sign_in(client, lead.email)
        page = await client.get("/lead/leaks")
        too_short = await post_form(
            client,
            "/lead/leaks",
            {"prompt": "sample-decision", "source": "a forum post", "text": "Use pgvector."},
        )
        no_source = await post_form(
            client,
            "/lead/leaks",
            {"prompt": "sample-decision", "source": "", "text": "word " * 40},
        )
        unknown = await post_form(
            client,
            "/lead/leaks",
            {"prompt": "nope", "source": "a forum post", "text": "word " * 40},
        )

    title = "Pick a vector store for a 2M-document search feature"
    assert f'<option value="sample-decision">{title}</option>' in page.text
    assert too_short.status_code == 400
    assert 'id="text-problem">Paste the leaked answer itself (at least 30 words).' in too_short.text
    assert 'value="a forum post"' in too_short.text
    assert ">Use pgvector.</textarea>" in too_short.text
    assert no_source.status_code == 400
    assert 'id="source-problem">Say where it was found' in no_source.text
    assert unknown.status_code == 400
    assert 'id="prompt-problem">Choose a prompt from the list.' in unknown.text
    assert await db.scalar(select(func.count(LeakedAnswer.id))) == 0
