"""Screens configured in the UI: the reviewer pool (claims, the queue and direct URLs),
reviews per submission, the SLA, a stricter pass threshold (never looser), duplicating a
screen; every change audited, every bad input refused with nothing changed."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reviewers.sla import add_business_days
from screen.platform.clock import FrozenClock
from screen.platform.models import (
    AuditEvent,
    Decision,
    Invitation,
    Review,
    ReviewStatus,
    Screen,
    ScreenHiringManager,
    ScreenPrompt,
    ScreenReviewer,
    User,
)
from screen.recruiting import reviewer_pool
from screen.recruiting.screens import assign_hiring_manager, get_screen
from screen.review import decisions, notifications, reviews
from screen.settings import Settings
from tests.support.factories import (
    TEST_ACTOR,
    make_candidate,
    make_screen,
    make_submitted,
    make_user,
    score_next,
)
from tests.support.reports import KEYS, score
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
BASE = "http://testserver.local"
ALL_THREES = dict.fromkeys(KEYS, 3)


def client_for(app: Litestar) -> Client:
    return AsyncTestClient(app=app, base_url=BASE)


async def fresh(db: AsyncSession, model: type, *where: object) -> list[Any]:
    query = select(model).where(*where).execution_options(populate_existing=True)
    return list(await db.scalars(query))


async def audit_rows(db: AsyncSession, action: str) -> list[AuditEvent]:
    return await fresh(db, AuditEvent, AuditEvent.action == action)


def settings_form(screen: Screen, **changes: Any) -> dict[str, Any]:
    """The edit form as the page sends it, with these fields changed."""
    form: dict[str, Any] = {
        "title": screen.title,
        "duration_minutes": str(screen.duration_minutes),
        "link_valid_days": str(screen.link_valid_days),
        "reviews_required": str(screen.reviews_required),
        "sla_business_days": str(screen.sla_business_days),
        "reminder_hours": ", ".join(str(h) for h in screen.reminder_hours),
        "ai_policy": str(screen.ai_policy),
        "pass_threshold": "",
    }
    form.update(changes)
    return form


async def post_settings(client: Client, screen: Screen, form: dict[str, Any]) -> Any:
    await client.get(f"/recruiter/screens/{screen.id}/edit")
    token = client.cookies.get("screen_csrf")
    assert token
    # A list value is a repeated field (ticked checkboxes).
    return await client.post(
        f"/recruiter/screens/{screen.id}/edit",
        data={**form, "_csrf_token": token},
        follow_redirects=False,
    )


# The reviewer pool.


async def test_a_pool_restricts_claims_and_the_queue_and_an_empty_pool_lets_everyone(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    pooled = await make_screen(db, now, title="Pooled")
    open_to_all = await make_screen(db, now, title="Open to all")
    inside = await make_user(db, now, "reviewer", email="in@staff.example")
    outside = await make_user(db, now, "reviewer", email="out@staff.example")
    await reviewer_pool.set_pool(db, pooled, [inside.id], now=now, actor=TEST_ACTOR)
    await db.commit()
    # The pooled answer is the more urgent one, so a claim that ignored the pool takes it.
    await make_submitted(db, settings, now, screen=pooled, email="a@example.com")
    await make_submitted(
        db, settings, now + timedelta(days=1), screen=open_to_all, email="b@example.com"
    )

    assert (await reviews.waiting_for(db, outside.id)).answers == 1
    assert (await reviews.waiting_for(db, inside.id)).answers == 2
    taken = await reviews.claim_next(db, outside.id, now)
    assert taken is not None
    assert (await db.get(Review, taken)).screen_id == open_to_all.id  # type: ignore[union-attr]
    assert await reviews.claim_next(db, outside.id, now) is None  # the pooled one is not theirs
    mine = await reviews.claim_next(db, inside.id, now)
    assert (await db.get(Review, mine)).screen_id == pooled.id  # type: ignore[arg-type, union-attr]

    # Emptied, the pool lets everyone in again.
    await reviewer_pool.set_pool(db, pooled, [], now=now, actor=TEST_ACTOR)
    assert (await reviews.waiting_for(db, outside.id)).answers == 1
    again = await reviews.claim_next(db, outside.id, now)
    assert (await db.get(Review, again)).screen_id == pooled.id  # type: ignore[arg-type, union-attr]


async def test_the_daily_digest_tells_only_the_pool_about_its_answers(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    pooled = await make_screen(db, now, title="Pooled")
    inside = await make_user(db, now, "reviewer", email="in@staff.example")
    outside = await make_user(db, now, "reviewer", email="out@staff.example")
    await reviewer_pool.set_pool(db, pooled, [inside.id], now=now, actor=TEST_ACTOR)
    await db.commit()
    await make_submitted(db, settings, now, screen=pooled)

    told = await notifications.digest_for(db, inside.id, now)
    assert told is not None and told["waiting"] == 1
    assert await notifications.digest_for(db, outside.id, now) is None


async def test_outside_the_pool_a_review_cannot_be_opened_or_submitted_by_url(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    screen = await make_screen(db, now)
    first = await make_user(db, now, "reviewer", email="first@staff.example")
    second = await make_user(db, now, "reviewer", email="second@staff.example")
    third = await make_user(db, now, "reviewer", email="third@staff.example")
    await make_submitted(db, settings, now, screen=screen)
    # `first` reviewed it before the pool existed; `second` holds a claim on it.
    await score_next(db, first, ALL_THREES, now)
    held = await reviews.claim_next(db, second.id, now)
    await db.commit()
    await reviewer_pool.set_pool(db, screen, [third.id], now=now, actor=TEST_ACTOR)
    await db.commit()
    submitted = (await fresh(db, Review, Review.reviewer_id == first.id))[0]

    async with client_for(app) as client:
        await sign_in(client, first.email)
        page = await client.get(f"/review/{submitted.id}")
        refused = await post_form(
            client, f"/review/{submitted.id}", {"action": "save"}, follow_redirects=False
        )
    async with client_for(app) as client:
        await sign_in(client, second.email)
        gone = await client.get(f"/review/{held}")

    assert page.status_code == 403
    assert "reviewed only by the reviewers chosen for it" in page.text
    assert refused.status_code == 403
    # The claim held by someone who left the pool went back to the queue, audited.
    assert gone.status_code == 404
    (slot,) = await fresh(db, Review, Review.id == held)
    assert slot.status == ReviewStatus.OPEN and slot.reviewer_id is None
    (released,) = await audit_rows(db, "review.released")
    assert released.subject_id == str(held)
    assert released.after == {"status": "open", "reason": "left the screen's reviewer pool"}
    (changed,) = await audit_rows(db, "screen.reviewer_pool_changed")
    assert changed.before == {"reviewers": []}
    assert changed.after == {"reviewers": [third.id], "returned_to_queue": [held]}


async def test_concurrent_claims_with_a_pool_never_double_claim_or_leave_it(
    db: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    now = clock.now()
    pooled = await make_screen(db, now, title="Pooled")
    open_to_all = await make_screen(db, now, title="Open to all")
    for index in range(6):
        for screen in (pooled, open_to_all):
            await make_submitted(
                db, settings, now, screen=screen, email=f"c{index}-{screen.id}@example.com"
            )
    staff = [
        await make_user(db, now, "reviewer", email=f"r{index}@staff.example") for index in range(12)
    ]
    members = {u.id for u in staff[:4]}
    await reviewer_pool.set_pool(db, pooled, sorted(members), now=now, actor=TEST_ACTOR)
    await db.commit()

    async def claimer(user: User) -> list[int]:
        mine = []
        while True:
            async with sessionmaker() as session, session.begin():
                review_id = await reviews.claim_next(session, user.id, now)
                if review_id is None:
                    return mine
                mine.append(review_id)
            await asyncio.sleep(0)

    results = await asyncio.gather(*(claimer(user) for user in staff))

    claimed = [review_id for ids in results for review_id in ids]
    assert len(claimed) == len(set(claimed))  # 0 double claims
    rows = await fresh(db, Review)
    assert sorted(claimed) == sorted(r.id for r in rows)  # every slot handed out
    assert all(r.reviewer_id in members for r in rows if r.screen_id == pooled.id)
    assert max(Counter((r.attempt_id, r.reviewer_id) for r in rows).values()) == 1


async def test_leads_adjudicate_whatever_the_pool_says(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    screen = await make_screen(db, now)
    first = await make_user(db, now, "reviewer", email="first@staff.example")
    second = await make_user(db, now, "reviewer", email="second@staff.example")
    lead = await make_user(db, now, "lead", email="lead@staff.example")
    await reviewer_pool.set_pool(db, screen, [first.id, second.id], now=now, actor=TEST_ACTOR)
    await db.commit()
    await make_submitted(db, settings, now, screen=screen)
    await score(db, first, dict.fromkeys(KEYS, 4), now, recommendation="strong_yes")
    attempt_id = await score(db, second, dict.fromkeys(KEYS, 1), now, recommendation="no")

    decision = await decisions.adjudicate(
        db, attempt_id, lead, "fail", "The trade-offs are not weighed anywhere.", now
    )

    assert decision.outcome == "fail"


async def test_the_screen_page_says_when_the_pool_cannot_review(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    screen = await make_screen(db, now)
    only = await make_user(db, now, "reviewer", email="only@staff.example", name="Only One")
    recruiter = await make_user(db, now, "recruiter", email="rec@staff.example")
    await reviewer_pool.set_pool(db, screen, [only.id], now=now, actor=TEST_ACTOR)
    await db.commit()
    await make_submitted(db, settings, now, screen=screen)
    await score_next(db, only, ALL_THREES, now)  # the second slot: nobody left to take it

    async with client_for(app) as client:
        await sign_in(client, recruiter.email)
        page = await client.get(f"/recruiter/screens/{screen.id}")

    assert page.status_code == 200
    assert "only Only One" in page.text
    assert "has 1 active reviewer, but each answer needs 2 reviews" in page.text
    assert "1 answer is waiting for a review that nobody in this screen" in page.text


# Reviews per submission and the SLA.


async def test_reviews_per_submission_set_on_the_page_is_when_the_decision_is_made(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    screen = await make_screen(db, now)
    recruiter = await make_user(db, now, "recruiter", email="rec@staff.example")
    staff = [await make_user(db, now, "reviewer", email=f"r{i}@staff.example") for i in range(3)]
    async with client_for(app) as client:
        await sign_in(client, recruiter.email)
        saved = await post_settings(client, screen, settings_form(screen, reviews_required="3"))
    assert saved.status_code == 303
    await db.refresh(screen)  # the page saved it in a session of its own
    await make_submitted(db, settings, now, screen=screen)

    attempt_id = await score_next(db, staff[0], ALL_THREES, now)
    await score_next(db, staff[1], ALL_THREES, now)
    assert await fresh(db, Decision, Decision.attempt_id == attempt_id) == []
    await score_next(db, staff[2], ALL_THREES, now)

    (decision,) = await fresh(db, Decision, Decision.attempt_id == attempt_id)
    assert decision.outcome == "pass"
    assert decision.inputs["result"]["reviews_count"] == 3


async def test_an_sla_change_moves_the_due_date_of_reviews_still_open(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    screen = await make_screen(db, now)
    recruiter = await make_user(db, now, "recruiter", email="rec@staff.example")
    candidate = await make_submitted(db, settings, now, screen=screen)
    async with client_for(app) as client:
        await sign_in(client, recruiter.email)
        saved = await post_settings(client, screen, settings_form(screen, sla_business_days="2"))
        page = await client.get(f"/recruiter/screens/{screen.id}")

    assert saved.status_code == 303
    invitation = await db.get(Invitation, candidate.invitation_id)
    assert invitation is not None
    slots = await fresh(db, Review, Review.screen_id == screen.id)
    assert {r.due_at for r in slots} == {add_business_days(invitation.created_at, 2)}
    assert "decision within 2 business days of the invitation" in page.text
    (updated,) = await audit_rows(db, "screen.updated")
    assert (updated.before or {})["sla_business_days"] == 5
    assert (updated.after or {})["sla_business_days"] == 2


# The stricter pass threshold.


async def test_a_stricter_threshold_fails_a_would_be_pass_and_says_so_everywhere(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    screen = await make_screen(db, now)
    recruiter = await make_user(db, now, "recruiter", email="rec@staff.example")
    first = await make_user(db, now, "reviewer", email="first@staff.example")
    second = await make_user(db, now, "reviewer", email="second@staff.example")
    async with client_for(app) as client:
        await sign_in(client, recruiter.email)
        saved = await post_settings(client, screen, settings_form(screen, pass_threshold="3.2"))
        dashboard = await client.get(f"/recruiter/screens/{screen.id}")
    assert saved.status_code == 303
    candidate = await make_submitted(db, settings, now, screen=screen)
    await score_next(db, first, ALL_THREES, now)  # all 3s: 3.0, a pass at the rubric's 2.75
    attempt_id = await score_next(db, second, ALL_THREES, now)
    async with client_for(app) as client:
        await sign_in(client, recruiter.email)
        report = await client.get(f"/reports/{candidate.invitation_id}")

    note = "pass threshold 3.2 set on this screen, stricter than the rubric's 2.75"
    (decision,) = await fresh(db, Decision, Decision.attempt_id == attempt_id)
    assert decision.outcome == "fail"
    assert decision.explanation == f"fail: weighted score 3 below threshold 3.2; {note}"
    assert decision.inputs["screen_pass_threshold"] == 3.2
    assert "3.2, set on this screen (stricter than the rubric&#39;s 2.75)" in dashboard.text
    assert report.status_code == 200
    assert "(pass threshold 3.2, set on this screen, stricter than the rubric&#39;s 2.75)" in (
        report.text
    )
    assert note.replace("'", "&#39;") in report.text  # the explanation
    (updated,) = await audit_rows(db, "screen.updated")
    assert (updated.before or {})["pass_threshold"] is None
    assert (updated.after or {})["pass_threshold"] == 3.2


async def test_refused_settings_change_nothing_and_say_why_beside_the_field(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    screen = await make_screen(db, now)
    recruiter = await make_user(db, now, "recruiter", email="rec@staff.example")
    reviewer = await make_user(db, now, "reviewer", email="rev@staff.example")
    manager = await make_user(db, now, "hiring_manager", email="hm@staff.example", name="Hana")
    refusals = {
        "pass_threshold": [
            ("2.5", "is looser than the 2.75 of"),
            ("abc", "must be a number such as 3.2"),
            ("3.125", "at most two decimals"),
            ("nan", "must be a number such as 3.2"),
            ("4.5", "cannot be above 4"),
        ],
        "reviews_required": [
            ("9", "must be 1 to 5"),
            ("two", "Reviews per submission must be a whole number in digits"),
        ],
        "sla_business_days": [
            ("0", "must be 1 to 30"),
            ("-3", "The SLA in business days must be a whole number in digits, like 5."),
        ],
        "reviewers": [
            ("x1", "is not a reviewer&#39;s id"),
            ("987654", "There is no account with id 987654"),
            (str(recruiter.id), "does not review answers"),
            (str(manager.id), "does not review answers"),
        ],
    }
    responses = []
    async with client_for(app) as client:
        await sign_in(client, recruiter.email)
        for field, cases in refusals.items():
            for value, message in cases:
                form = settings_form(screen, **{field: value})
                if field == "reviewers":
                    form["reviewers"] = [str(reviewer.id), value]
                response = await post_settings(client, screen, form)
                responses.append((field, value, message, response))

    for field, value, message, response in responses:
        assert response.status_code == 400, (field, value, response.status_code)
        assert f'id="{field}-problem">' in response.text, (field, value)
        assert message in response.text.split(f'id="{field}-problem">')[1][:300], (field, value)
        assert "Nothing was changed" in response.text
    await db.rollback()
    unchanged = await get_screen(db, screen.id)
    assert unchanged.pass_threshold is None
    assert unchanged.reviews_required == 2 and unchanged.sla_business_days == 5
    assert await fresh(db, ScreenReviewer) == []
    assert await audit_rows(db, "screen.updated") == []
    assert await audit_rows(db, "screen.reviewer_pool_changed") == []


async def test_a_new_screen_takes_its_pool_and_threshold_on_the_same_form(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    template = await make_screen(db, now)  # syncs the prompt library
    recruiter = await make_user(db, now, "recruiter", email="rec@staff.example")
    reviewer = await make_user(db, now, "reviewer", email="rev@staff.example")
    form = {
        "prompt_id": str(template.prompt_id),
        "title": "Search engineer",
        "reminder_hours": "48, 24",
        "ai_policy": "no_ai",
        "reviewers": [str(reviewer.id)],
    }
    async with client_for(app) as client:
        await sign_in(client, recruiter.email)
        await client.get("/recruiter/screens/new")
        looser = await post_form(client, "/recruiter/screens", {**form, "pass_threshold": "2"})
        made = await post_form(
            client, "/recruiter/screens", {**form, "pass_threshold": "3"}, follow_redirects=False
        )

    assert looser.status_code == 400
    assert 'id="pass_threshold-problem">' in looser.text
    assert f'value="{reviewer.id}" checked' in looser.text  # the ticks are kept
    assert made.status_code == 303
    (screen,) = await fresh(db, Screen, Screen.title == "Search engineer")
    assert screen.pass_threshold == 3.0
    assert [u.id for u in await reviewer_pool.pool(db, screen.id)] == [reviewer.id]


async def test_wrong_roles_are_refused(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    screen = await make_screen(db, now)
    await db.commit()
    answers = []
    for role in ("reviewer", "lead", "hiring_manager"):
        user = await make_user(db, now, role, email=f"{role}@staff.example")
        async with client_for(app) as client:
            await sign_in(client, user.email)
            answers.append(await client.get(f"/recruiter/screens/{screen.id}/edit"))
            answers.append(
                await post_form(
                    client,
                    f"/recruiter/screens/{screen.id}/edit",
                    settings_form(screen, pass_threshold="3.5"),
                )
            )
            answers.append(await post_form(client, f"/recruiter/screens/{screen.id}/duplicate"))

    assert [a.status_code for a in answers] == [403] * 9
    assert await fresh(db, Screen, Screen.title.like("Copy of%")) == []
    assert (await get_screen(db, screen.id)).pass_threshold is None


# Duplicating a screen.


async def test_duplicating_copies_the_settings_and_pools_and_no_candidates(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    screen = await make_screen(
        db, now, title="Platform engineer", reviews_required=3, sla_business_days=4
    )
    recruiter = await make_user(db, now, "recruiter", email="rec@staff.example")
    reviewer = await make_user(db, now, "reviewer", email="rev@staff.example")
    manager = await make_user(db, now, "hiring_manager", email="hm@staff.example")
    await reviewer_pool.set_pool(db, screen, [reviewer.id], now=now, actor=TEST_ACTOR)
    await assign_hiring_manager(db, screen, manager.email, actor=TEST_ACTOR, now=now)
    screen.pass_threshold = 3.25
    await db.commit()
    await make_candidate(db, settings, now, screen=screen)

    async with client_for(app) as client:
        await sign_in(client, recruiter.email)
        await client.get(f"/recruiter/screens/{screen.id}")
        response = await post_form(
            client, f"/recruiter/screens/{screen.id}/duplicate", follow_redirects=False
        )
        location = response.headers["location"]
        page = await client.get(location)

    assert response.status_code == 303
    match = re.fullmatch(r"/recruiter/screens/(\d+)\?done=duplicated", location)
    assert match
    copy = await get_screen(db, int(match.group(1)))
    assert copy.id != screen.id
    assert copy.title == "Copy of Platform engineer"
    assert (copy.prompt_id, copy.reviews_required, copy.sla_business_days) == (
        screen.prompt_id,
        3,
        4,
    )
    assert (copy.duration_minutes, copy.link_valid_days, copy.reminder_hours) == (
        screen.duration_minutes,
        screen.link_valid_days,
        screen.reminder_hours,
    )
    assert copy.pass_threshold == 3.25 and copy.ai_policy == screen.ai_policy
    assert [u.id for u in await reviewer_pool.pool(db, copy.id)] == [reviewer.id]
    managers = await fresh(db, ScreenHiringManager, ScreenHiringManager.screen_id == copy.id)
    assert [m.user_id for m in managers] == [manager.id]
    assert await fresh(db, ScreenPrompt, ScreenPrompt.screen_id == copy.id) == []
    assert (
        await db.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.screen_id == copy.id)
        )
        == 0
    )
    assert "Copy of Platform engineer" in page.text and "This is a copy" in page.text
    (duplicated,) = await audit_rows(db, "screen.duplicated")
    assert duplicated.subject_id == str(copy.id)
    assert duplicated.before == {"from_screen": screen.id}
    assert (duplicated.after or {})["reviewers"] == [reviewer.id]
    # The source keeps its candidate; archiving the copy later keeps its own history.
    assert (
        await db.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.screen_id == screen.id)
        )
        == 1
    )
