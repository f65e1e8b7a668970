"""Reviewers through HTTP: the blind queue, scoring, the decision and adjudication."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import (
    Attempt,
    AttemptState,
    AuditEvent,
    Decision,
    OutboxEvent,
    Review,
    ReviewDecline,
    ReviewStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from screen.review import jobs, reviews
from screen.settings import Settings
from tests.support.factories import make_submitted, make_user
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
DIMENSIONS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
EVIDENCE = "The answer says HNSW with ef_search 64 keeps p95 under 300 ms at 50 QPS."


def scores(level: int | dict[str, int], recommendation: str = "yes") -> dict[str, str]:
    levels = level if isinstance(level, dict) else dict.fromkeys(DIMENSIONS, level)
    form = {f"level.{key}": str(value) for key, value in levels.items()}
    form.update({f"evidence.{key}": EVIDENCE for key in DIMENSIONS})
    form["recommendation"] = recommendation
    return form


async def review_next(client: Client) -> str:
    response = await post_form(client, "/review/next", follow_redirects=False)
    assert response.status_code == 303
    location: str = response.headers["location"]
    return location


async def fetch(db: AsyncSession, model: type, *where: object) -> list:  # type: ignore[type-arg]
    query = select(model).where(*where).execution_options(populate_existing=True)
    return list(await db.scalars(query))


def new_client(app: Litestar) -> Client:
    """One browser: its own cookies, served by its own copy of the app (as several web
    processes would, sharing only the database)."""
    return AsyncTestClient(app=app.state.make_app(), base_url="http://testserver.local")


async def subscribe_to_decisions(db: AsyncSession, clock: FrozenClock) -> None:
    db.add(
        WebhookEndpoint(
            url="http://127.0.0.1:9/hook",
            sealed_secret="unused-here",
            events=["decision.made"],
            created_at=clock.now(),
        )
    )
    await db.commit()


async def test_two_reviewers_score_blind_and_the_rule_decides(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    await subscribe_to_decisions(db, clock)
    first = await make_user(db, clock.now(), "reviewer", email="first@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="second@staff.example")
    await make_submitted(db, settings, clock.now())

    async with new_client(app) as alice, new_client(app) as bob:
        assert (await sign_in(alice, first.email)).headers["location"] == "/review"
        await sign_in(bob, second.email)
        queue = await alice.get("/review")
        assert "Waiting for a reviewer" in queue.text
        alice_page = await review_next(alice)
        bob_page = await review_next(bob)
        assert alice_page != bob_page

        blind = await alice.get(alice_page)
        assert "We choose pgvector with HNSW" in blind.text
        assert "Trade-off: latency vs cost" in blind.text
        assert "Names a store; no alternatives or criteria." in blind.text  # anchored descriptor

        submitted = await post_form(
            alice, alice_page, {**scores(3), "action": "submit"}, follow_redirects=False
        )
        assert submitted.status_code == 303
        after_first = await alice.get(alice_page)
        assert "Your review is submitted" in after_first.text
        assert "The decision is made when every required review is in" in after_first.text

        await post_form(bob, bob_page, {**scores(4, "strong_yes"), "action": "submit"})
        bob_view = await bob.get(bob_page)
        alice_view = await alice.get(alice_page)

    assert "Pass" in bob_view.text
    assert "pass: weighted score 3.5" in bob_view.text
    assert alice_view.text.count(EVIDENCE) == 8  # both reviews side by side
    [decision] = await fetch(db, Decision)
    assert decision.outcome == "pass"
    assert decision.weighted_score == 3.5
    [attempt] = await fetch(db, Attempt)
    assert attempt.state == AttemptState.PASSED
    [delivery] = await fetch(db, WebhookDelivery, WebhookDelivery.event_type == "decision.made")
    assert delivery.payload["data"]["outcome"] == "pass"
    assert delivery.payload["data"]["explanation"].startswith("pass: weighted score 3.5")
    [event] = await fetch(db, OutboxEvent, OutboxEvent.kind == "webhook.deliver")
    assert event.payload == {"delivery_id": delivery.id}
    actions = [a.action for a in await fetch(db, AuditEvent)]
    assert actions.count("review.submitted") == 2
    assert "decision.made" in actions


async def test_other_reviews_stay_hidden_until_this_one_is_submitted(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    first = await make_user(db, clock.now(), "reviewer", email="first@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="second@staff.example")
    await make_submitted(db, settings, clock.now())
    secret_note = "Second reviewer private note: the cost arithmetic is wrong by 10x."

    async with new_client(app) as alice, new_client(app) as bob:
        await sign_in(alice, first.email)
        await sign_in(bob, second.email)
        alice_page = await review_next(alice)
        bob_page = await review_next(bob)
        form = scores(2, "no")
        form["evidence.latency_vs_cost"] = secret_note
        await post_form(bob, bob_page, {**form, "action": "submit"})

        before = await alice.get(alice_page)
        await post_form(alice, alice_page, {**scores(2, "no"), "action": "submit"})
        after = await alice.get(alice_page)

    assert secret_note not in before.text
    assert secret_note in after.text


async def test_the_blind_page_never_shows_who_the_candidate_is(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    candidate = await make_submitted(
        db,
        settings,
        clock.now(),
        name="Zelda Quintessa-Marwick",
        email="zq.marwick@pii-example.org",
        external_id="ATS-PII-9931",
    )

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        page = await client.get(await review_next(client))

    assert page.status_code == 200
    for secret in (
        "Zelda",
        "Quintessa",
        "Marwick",
        "zq.marwick",
        "pii-example",
        "ATS-PII-9931",
        candidate.token,
        "Backend engineer, autumn",
    ):
        assert secret not in page.text, secret
    assert re.search(r"Candidate [0-9A-F]{6}", page.text)


async def test_an_incomplete_review_is_refused_and_nothing_is_submitted(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await make_submitted(db, settings, clock.now())
    incomplete = scores(3)
    del incomplete["level.failure_modes"]
    incomplete["evidence.first_week"] = "too short"
    bad_level = {**scores(3), "level.first_week": "7"}

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        page = await review_next(client)
        refused = await post_form(client, page, {**incomplete, "action": "submit"})
        out_of_scale = await post_form(client, page, {**bad_level, "action": "submit"})
        saved = await post_form(client, page, {**incomplete, "action": "save"})

    assert refused.status_code == 400
    assert "Failure modes and detection: choose a level." in refused.text
    assert "First-week plan: the evidence note needs at least 20 characters" in refused.text
    assert 'value="3" checked' in refused.text  # what was typed is kept
    assert out_of_scale.status_code == 400
    assert saved.status_code == 200
    [review] = await fetch(db, Review, Review.reviewer_id == reviewer.id)
    assert review.status == ReviewStatus.CLAIMED
    assert review.scores is not None
    assert review.scores["latency_vs_cost"]["level"] == 3  # the draft is kept
    assert await fetch(db, Decision) == []


async def test_a_refused_field_keeps_everything_else_the_reviewer_typed(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await make_submitted(db, settings, clock.now())
    typed = {
        **scores({"latency_vs_cost": 2, "accuracy_vs_speed": 4, "failure_modes": 9}),
        "evidence.first_week": "pasted " * 1000,
        "recommendation": "maybe-later",
    }

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        page = await review_next(client)
        refused = await post_form(client, page, {**typed, "action": "save"})

    assert refused.status_code == 400
    for problem in (
        "Failure modes and detection: choose a level from 1 to 4.",
        "First-week plan: the evidence note is 6,999 characters; shorten it to 4,000 or fewer.",
        "Choose an overall recommendation from the list.",
    ):
        assert problem in refused.text
    # Each valid choice and every note comes back as typed, the long one to be shortened.
    assert 'name="level.latency_vs_cost" value="2" checked' in refused.text
    assert 'name="level.accuracy_vs_speed" value="4" checked' in refused.text
    assert refused.text.count(EVIDENCE) == 3
    assert "pasted " * 999 in refused.text
    assert 'maxlength="4000"' in refused.text
    [review] = await fetch(db, Review, Review.reviewer_id == reviewer.id)
    assert review.scores is None  # nothing saved


async def test_a_reviewer_never_gets_the_same_attempt_twice(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await make_submitted(db, settings, clock.now())

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        first = await review_next(client)
        second = await review_next(client)
        queue = await client.get(second)

    assert first.startswith("/review/")
    assert second == "/review?empty=1"
    assert "Nothing is waiting that you can review" in queue.text
    assert "Review #" in queue.text  # the claimed item is listed


async def test_an_expired_lease_returns_the_slot_to_the_queue(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    slow = await make_user(db, clock.now(), "reviewer", email="slow@staff.example")
    other = await make_user(db, clock.now(), "reviewer", email="other@staff.example")
    late = await make_user(db, clock.now(), "reviewer", email="late@staff.example")
    await make_submitted(db, settings, clock.now())

    async with new_client(app) as a, new_client(app) as b, new_client(app) as c:
        for client, user in ((a, slow), (b, other), (c, late)):
            await sign_in(client, user.email)
        slow_page = await review_next(a)
        await review_next(b)
        nothing_yet = await review_next(c)
        clock.advance(minutes=31)
        still_held = await review_next(c)  # expired, but not yet returned by the job
        assert runner.context is not None
        assert await jobs.release_review_leases(runner.context) == 2
        taken_over = await review_next(c)
        stale_save = await post_form(a, slow_page, {**scores(3), "action": "save"})

    assert nothing_yet == still_held == "/review?empty=1"
    assert taken_over == slow_page
    # The slot is no longer theirs: they are told why, and get back what they typed.
    assert stale_save.status_code == 409
    assert "Your claim on this submission has ended" in stale_save.text
    assert "A claim lasts 30 minutes" in stale_save.text
    assert stale_save.text.count(EVIDENCE) == 4
    [review] = await fetch(db, Review, Review.id == int(slow_page.rsplit("/", 1)[1]))
    assert review.reviewer_id == late.id


async def test_saving_a_draft_renews_the_lease(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer", email="keen@staff.example")
    rival = await make_user(db, clock.now(), "reviewer", email="rival@staff.example")
    rival2 = await make_user(db, clock.now(), "reviewer", email="rival2@staff.example")
    await make_submitted(db, settings, clock.now())

    async with new_client(app) as a, new_client(app) as b, new_client(app) as c:
        await sign_in(a, reviewer.email)
        await sign_in(b, rival.email)
        await sign_in(c, rival2.email)
        page = await review_next(a)
        rival_page = await review_next(b)
        clock.advance(minutes=25)
        await post_form(a, page, {**scores(3), "action": "save"})
        await post_form(b, rival_page, {**scores(2), "action": "save"})
        clock.advance(minutes=25)
        nothing = await review_next(c)

    assert nothing == "/review?empty=1"


async def test_declining_returns_the_slot_to_others_and_records_the_reason(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    decliner = await make_user(db, clock.now(), "reviewer", email="decliner@staff.example")
    other = await make_user(db, clock.now(), "reviewer", email="other@staff.example")
    await make_submitted(db, settings, clock.now())

    async with new_client(app) as a, new_client(app) as b:
        await sign_in(a, decliner.email)
        await sign_in(b, other.email)
        page = await review_next(a)
        no_reason = await post_form(a, f"{page}/decline", {"reason": " "})
        declined = await post_form(
            a,
            f"{page}/decline",
            {"reason": "Conflict of interest: former colleague"},
            follow_redirects=False,
        )
        again = await review_next(a)
        for_other = await review_next(b)

    assert no_reason.status_code == 400
    assert declined.status_code == 303
    assert again == "/review?empty=1"
    assert for_other.startswith("/review/")
    [decline] = await fetch(db, ReviewDecline)
    assert decline.reason == "Conflict of interest: former colleague"
    assert decline.reviewer_id == decliner.id


async def test_disagreement_goes_to_a_lead_who_adjudicates(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    await subscribe_to_decisions(db, clock)
    first = await make_user(db, clock.now(), "reviewer", email="first@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="second@staff.example")
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    await make_submitted(db, settings, clock.now())

    async with new_client(app) as a, new_client(app) as b, new_client(app) as c:
        await sign_in(a, first.email)
        await sign_in(b, second.email)
        await post_form(a, await review_next(a), {**scores(4, "strong_yes"), "action": "submit"})
        await post_form(b, await review_next(b), {**scores(2, "no"), "action": "submit"})
        [attempt] = await fetch(db, Attempt)
        await sign_in(c, lead.email)
        queue = await c.get("/lead")
        page = await c.get(f"/lead/attempts/{attempt.id}")
        too_short = await post_form(
            c, f"/lead/attempts/{attempt.id}/adjudicate", {"outcome": "pass", "reason": "ok"}
        )
        adjudicated = await post_form(
            c,
            f"/lead/attempts/{attempt.id}/adjudicate",
            {"outcome": "pass", "reason": "The 4s are backed by the cost arithmetic."},
            follow_redirects=False,
        )
        twice = await post_form(
            c,
            f"/lead/attempts/{attempt.id}/adjudicate",
            {"outcome": "fail", "reason": "Changing my mind after the fact."},
        )
        nothing_there = await post_form(
            c,
            f"/lead/attempts/{attempt.id + 999}/adjudicate",
            {"outcome": "fail", "reason": "An attempt that does not exist."},
        )
        lead_queue = await c.get("/lead")
        lead_page = await c.get(f"/lead/attempts/{attempt.id}")

    assert "needs adjudication: recommendations on opposite sides" in queue.text
    assert nothing_there.status_code == 404
    assert "reviewers differ by 2 levels" in page.text
    assert too_short.status_code == 400
    assert adjudicated.status_code == 303
    assert twice.status_code == 409
    [decision] = await fetch(db, Decision)
    assert (decision.rule_outcome, decision.outcome) == ("needs_adjudication", "pass")
    assert decision.adjudicated_by_id == lead.id
    [attempt] = await fetch(db, Attempt)
    assert attempt.state == AttemptState.PASSED
    [audit] = await fetch(db, AuditEvent, AuditEvent.action == "decision.adjudicated")
    assert audit.before == {"outcome": "needs_adjudication"}
    assert audit.after is not None and audit.after["outcome"] == "pass"
    [delivery] = await fetch(db, WebhookDelivery, WebhookDelivery.event_type == "decision.made")
    assert delivery.payload["data"]["adjudicated"] is True
    # The pipeline reads the lead's decision and reason first, then what the rule said.
    explanation = delivery.payload["data"]["explanation"]
    assert explanation.startswith(
        "pass: adjudicated by a lead (The 4s are backed by the cost arithmetic.). "
        "The rule had said: needs adjudication"
    )
    # The pages say the same as the pipeline is told, once, not the rule's text alone.
    for page_text in (lead_queue.text, lead_page.text):
        assert "pass: adjudicated by a lead (The 4s are backed by the cost arithmetic.)" in (
            page_text
        )
    assert "pass: pass:" not in lead_queue.text


async def test_a_lead_reopens_a_review_with_a_reason_but_not_after_a_final_decision(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    first = await make_user(db, clock.now(), "reviewer", email="first@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="second@staff.example")
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    await make_submitted(db, settings, clock.now(), name="Done Case", email="done@example.com")
    await make_submitted(db, settings, clock.now(), name="Open Case", email="open@example.com")

    async with new_client(app) as a, new_client(app) as b, new_client(app) as c:
        await sign_in(a, first.email)
        await sign_in(b, second.email)
        await sign_in(c, lead.email)
        done_a = await review_next(a)
        done_b = await review_next(b)
        await post_form(a, done_a, {**scores(3), "action": "submit"})
        await post_form(b, done_b, {**scores(3), "action": "submit"})
        open_page = await review_next(a)
        await post_form(a, open_page, {**scores(3), "action": "submit"})
        open_id = int(open_page.rsplit("/", 1)[1])
        decided_id = int(done_a.rsplit("/", 1)[1])

        by_reviewer = await post_form(a, f"/lead/reviews/{open_id}/reopen", {"reason": "x" * 20})
        reopened = await post_form(
            c,
            f"/lead/reviews/{open_id}/reopen",
            {"reason": "Evidence notes quote the wrong answer."},
            follow_redirects=False,
        )
        editable = await a.get(open_page)
        my_queue = await a.get("/review")
        too_late = await post_form(
            c, f"/lead/reviews/{decided_id}/reopen", {"reason": "Second thoughts on this one."}
        )
        # Days later: the release job returns expired claims to the queue, never this one.
        clock.advance(days=3)
        async with db.bind.connect() as connection:  # type: ignore[union-attr]
            await reviews.release_expired_leases(AsyncSession(connection), clock.now())
            await connection.commit()
        await sign_in(a, first.email)  # staff sessions do not last days
        still_mine = await a.get(open_page)
        resubmitted = await post_form(
            a, open_page, {**scores(2), "action": "submit"}, follow_redirects=False
        )

    assert by_reviewer.status_code == 403
    assert reopened.status_code == 303
    assert "Submit review" in editable.text
    assert "A lead reopened your review: “Evidence notes quote the wrong answer.”" in editable.text
    assert "”." not in editable.text  # the reason's own full stop is not doubled
    assert 'value="3" checked' in editable.text  # the earlier scores are there to revise
    assert "reopened by a lead" in my_queue.text
    assert too_late.status_code == 409
    assert "already decided (pass)" in too_late.text
    assert still_mine.status_code == 200 and 'value="3" checked' in still_mine.text
    assert resubmitted.status_code == 303
    [review] = await fetch(db, Review, Review.id == open_id)
    assert (review.status, review.reviewer_id) == (ReviewStatus.SUBMITTED, first.id)
    [event] = await fetch(db, AuditEvent, AuditEvent.action == "review.reopened")
    assert event.before is not None and event.before["status"] == "submitted"
    assert event.after == {"status": "reopened", "reason": "Evidence notes quote the wrong answer."}


async def test_a_lead_returns_a_reopened_review_whose_reviewer_does_not_come_back(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    gone = await make_user(db, clock.now(), "reviewer", email="gone@staff.example")
    other = await make_user(db, clock.now(), "reviewer", email="other@staff.example")
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    await make_submitted(db, settings, clock.now())

    async with new_client(app) as a, new_client(app) as b, new_client(app) as c:
        await sign_in(a, gone.email)
        await sign_in(b, other.email)
        await sign_in(c, lead.email)
        page = await review_next(a)
        await post_form(a, page, {**scores(3), "action": "submit"})
        review_id = int(page.rsplit("/", 1)[1])
        await post_form(c, f"/lead/reviews/{review_id}/reopen", {"reason": "Notes quote nothing."})
        listed = await c.get("/lead")
        too_short = await post_form(c, f"/lead/reviews/{review_id}/release", {"reason": "gone"})
        released = await post_form(
            c,
            f"/lead/reviews/{review_id}/release",
            {"reason": "The reviewer has left the company."},
            follow_redirects=False,
        )
        again = await post_form(
            c, f"/lead/reviews/{review_id}/release", {"reason": "The reviewer has left, again."}
        )
        no_longer_theirs = await a.get(page)
        taken_by_other = await review_next(b)

    assert "Reopened, waiting for their reviewer" in listed.text
    assert "gone@staff.example" in listed.text
    assert too_short.status_code == 400
    assert released.status_code == 303
    assert again.status_code == 409
    assert no_longer_theirs.status_code == 404
    assert taken_by_other == page  # the same slot, scored afresh by someone else
    [event] = await fetch(db, AuditEvent, AuditEvent.action == "review.released")
    assert event.before is not None and event.before["reviewer_id"] == gone.id
    assert event.after == {"status": "open", "reason": "The reviewer has left the company."}


async def test_one_reviewer_cannot_open_another_reviewers_review(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    owner = await make_user(db, clock.now(), "reviewer", email="owner@staff.example")
    snoop = await make_user(db, clock.now(), "reviewer", email="snoop@staff.example")
    await make_submitted(db, settings, clock.now())

    async with new_client(app) as a, new_client(app) as b:
        await sign_in(a, owner.email)
        await sign_in(b, snoop.email)
        page = await review_next(a)
        peek = await b.get(page)
        tamper = await post_form(b, page, {**scores(1), "action": "submit"})

    assert peek.status_code == 404
    assert tamper.status_code == 409  # "not yours": nothing of the owner's is shown
    assert "Your claim on this submission has ended" in tamper.text
    [review] = await fetch(db, Review, Review.reviewer_id == owner.id)
    assert review.status == ReviewStatus.CLAIMED


async def test_auto_submitted_attempts_join_the_queue_by_sla(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await make_submitted(db, settings, clock.now(), name="Newer Invite", email="new@example.com")
    clock.advance(days=-3)
    older = await make_submitted(
        db, settings, clock.now(), name="Older Invite", email="old@example.com"
    )
    clock.advance(days=3)

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        page = await review_next(client)

    [review] = await fetch(db, Review, Review.id == int(page.rsplit("/", 1)[1]))
    assert review.attempt_id == older.invitation.attempt.id  # earliest SLA due first
    assert review.due_at - clock.now() < timedelta(days=7)


def between(html: str, start: str, end: str) -> str:
    """The part of a page from `start` to the next `end`: what one field's block holds."""
    at = html.index(start)
    return html[at : html.index(end, at)]


async def test_review_next_after_a_submission_says_how_many_answers_wait_for_this_reviewer(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer", email="counted@staff.example")
    other = await make_user(db, clock.now(), "reviewer", email="decliner@staff.example")
    for n in range(4):
        await make_submitted(db, settings, clock.now(), name=f"Cand {n}", email=f"c{n}@example.com")

    async with new_client(app) as a, new_client(app) as b:
        await sign_in(a, reviewer.email)
        await sign_in(b, other.email)
        queue = await a.get("/review")
        # The other reviewer declines one answer: it no longer waits for them, only for others.
        declined = await review_next(b)
        await post_form(b, f"{declined}/decline", {"reason": "I interviewed this person."})
        others_queue = await b.get("/review")
        page = await review_next(a)
        await post_form(a, page, {**scores(3), "action": "submit"})
        after_one = await a.get(page)
        for _ in range(3):
            next_page = await review_next(a)
            await post_form(a, next_page, {**scores(3), "action": "submit"})
        after_all = await a.get(next_page)

    assert "4 answers waiting</strong> for you" in queue.text
    assert "3 answers waiting</strong> for you" in others_queue.text
    # Two slots of each answer wait, but one reviewer gets one of them: answers are counted.
    assert "Your review is submitted" in after_one.text
    assert "3 answers waiting</strong> for you" in after_one.text
    assert 'action="/review/next"' in after_one.text
    assert ">Review next</button>" in after_one.text
    assert "Nothing else is waiting for you right now." in after_all.text
    assert 'href="/review">Back to the queue</a>' in after_all.text
    assert 'action="/review/next"' not in after_all.text.split("Your review is submitted")[1]


async def test_a_refused_decline_keeps_the_reason_and_says_why_beside_it(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer", email="decliner@staff.example")
    await make_submitted(db, settings, clock.now())
    too_long = "Conflict of interest: " + "I know this person well. " * 50

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        page = await review_next(client)
        await post_form(client, page, {**scores(3), "action": "save"})
        empty = await post_form(client, f"{page}/decline", {"reason": "  "})
        long = await post_form(client, f"{page}/decline", {"reason": too_long})
        still_mine = await client.get(page)
        [review] = await fetch(db, Review, Review.reviewer_id == reviewer.id)
        kept = (review.status, review.scores is not None, await fetch(db, ReviewDecline))
        declined = await post_form(
            client,
            f"{page}/decline",
            {"reason": "I interviewed them last year."},
            follow_redirects=False,
        )
        queue = await client.get(declined.headers["location"])

    message = "Say briefly why you are declining (3 to 1000 characters)."
    for refused in (empty, long):
        assert refused.status_code == 400
        # The same page (navigation, the answer, the scores typed), the decline form open,
        # the problem next to the reason and in the summary above the form.
        assert "Review queue</a>" in refused.text
        assert "We choose pgvector with HNSW" in refused.text
        assert 'value="3" checked' in refused.text
        assert '<details class="decline" id="decline" open>' in refused.text
        block = between(refused.text, '<label for="reason">', "</textarea>")
        assert f'<p class="field-problem" id="reason-problem">{message}</p>' in block
        assert 'aria-invalid="true"' in block
        assert f'<a href="#reason">{message}</a>' in refused.text
    assert too_long.strip().replace("&", "&amp;") in long.text  # the reason as typed
    assert still_mine.status_code == 200
    assert "Score against the rubric" in still_mine.text
    assert kept == (ReviewStatus.CLAIMED, True, [])  # nothing changed; the draft survived
    assert declined.status_code == 303
    assert declined.headers["location"] == "/review?done=declined"
    assert "Declined; it goes to another reviewer." in queue.text
    assert [d.reason for d in await fetch(db, ReviewDecline)] == ["I interviewed them last year."]


async def test_returning_a_claim_puts_it_back_at_once_and_the_queue_says_so(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer", email="busy@staff.example")
    await make_submitted(db, settings, clock.now())

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        page = await review_next(client)
        claimed = await client.get(page)
        returned = await post_form(client, f"{page}/return", follow_redirects=False)
        queue = await client.get(returned.headers["location"])
        gone = await client.get(page)
        forged = await client.get("/review?done=%3Cb%3Eowned%3C/b%3E")
        again = await review_next(client)  # not a decline: it may come back to them

    assert "Return to the queue</button>" in claimed.text
    assert returned.headers["location"] == "/review?done=returned"
    assert "Returned to the queue." in queue.text
    assert gone.status_code == 404
    assert "owned" not in forged.text and 'class="notice ok"' not in forged.text
    assert again == page
    [event] = await fetch(db, AuditEvent, AuditEvent.action == "review.returned")
    assert event.actor.startswith(f"user:{reviewer.id}")


async def test_scoring_problems_show_next_to_the_dimension_they_concern(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await make_submitted(db, settings, clock.now())
    form = scores(3)
    del form["level.failure_modes"]
    form["evidence.first_week"] = "too short"
    del form["recommendation"]

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        page = await review_next(client)
        refused = await post_form(client, page, {**form, "action": "submit"})

    assert refused.status_code == 400
    html = refused.text
    failure_modes = between(html, 'id="level.failure_modes"', "</fieldset>")
    assert "Failure modes and detection: choose a level." in failure_modes
    assert 'aria-describedby="level.failure_modes-problem"' in failure_modes
    first_week = between(html, 'id="level.first_week"', "</fieldset>")
    assert "First-week plan: the evidence note needs at least 20" in first_week
    assert "too short</textarea>" in first_week  # kept as typed
    assert "choose a level" not in first_week  # its level was given
    assert "Choose an overall recommendation." in between(
        html, 'id="recommendation"', "</fieldset>"
    )
    latency = between(html, 'id="level.latency_vs_cost"', "</fieldset>")
    assert "field-problem" not in latency
    # And the summary above the form links to each field.
    assert '<a href="#level.failure_modes">' in html
    assert '<a href="#evidence.first_week">' in html


async def test_the_reviewers_own_review_is_headed_your_review(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    first = await make_user(db, clock.now(), "reviewer", email="first@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="second@staff.example")
    await make_submitted(db, settings, clock.now())

    async with new_client(app) as a, new_client(app) as b:
        await sign_in(a, first.email)
        await sign_in(b, second.email)
        first_page = await review_next(a)
        second_page = await review_next(b)
        await post_form(a, first_page, {**scores(3), "action": "submit"})
        await post_form(b, second_page, {**scores(3), "action": "submit"})
        seen_by_second = await b.get(second_page)

    headers = re.findall(r'<th scope="col">([^<]+)</th>', seen_by_second.text)
    assert headers == ["Dimension", "Your review", "Review 1"]
