"""The lead's agreement page on real reviews: figures with the attempts they rest on."""

from __future__ import annotations

import base64
import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.agreement import Rating, agreement_report, monthly_trend, reviewer_stats
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import (
    AgreementSnapshot,
    Attempt,
    AuditEvent,
    OutboxEvent,
    OutboxStatus,
    Review,
)
from screen.review import agreement_snapshots
from screen.review.agreement_snapshots import AGREEMENT_COMPUTE
from screen.settings import Settings
from tests.support.agreement import DIMENSIONS, panel, score, score_answers
from tests.support.factories import make_submitted
from tests.support.smtp import SmtpServer
from tests.support.staff import agreement_page, post_form, sign_in
from tests.support.worker import run_worker_burst, worker_env


async def test_the_lead_sees_alpha_per_dimension_with_its_attempt_count(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    screen, first, second, lead = await panel(db, clock.now())
    # Ben agrees with Ana except one level higher on the last dimension.
    await score_answers(
        db,
        settings,
        clock,
        screen,
        first,
        second,
        seconds=lambda _, levels: [*levels[:3], min(4, levels[3] + 1)],
    )

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead.email)
        index_page = await client.get("/lead/agreement")
        page = await agreement_page(client, runner, "/lead/agreement?prompt=sample-decision")
        bad = await client.get("/lead/agreement?screen=abc")

    assert "sample-decision" in index_page.text
    assert page.status_code == 200
    assert "Trade-off: latency vs cost" in page.text
    assert re.search(r"<td>1\.000</td>", page.text)  # perfect agreement on the first dimension
    assert "reliable" in page.text
    assert "<td>12</td>" in page.text  # attempts behind each figure
    assert "Ana" in page.text and "Ben" in page.text
    # Ben is one level higher on 9 of the 48 shared ratings: severity +9/48 = +0.19, Ana -0.19.
    assert "+0.19" in page.text and "-0.19" in page.text
    assert bad.status_code == 400


async def test_below_the_minimum_the_page_says_not_enough_data(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    screen, first, second, lead = await panel(db, clock.now())
    for index in range(3):
        await make_submitted(
            db,
            settings,
            clock.now(),
            screen=screen,
            name=f"C {index}",
            email=f"c{index}@example.com",
        )
        await score(db, first, [1, 2, 3, 4], clock.now())
        await score(db, second, [2, 2, 3, 4], clock.now())

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead.email)
        page = await agreement_page(client, runner, "/lead/agreement?prompt=sample-decision")

    assert page.text.count("not enough data") >= 5
    assert "<td>3</td>" in page.text


async def test_a_month_with_too_little_data_is_a_gap_and_verdicts_follow_the_interval(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    screen, first, second, lead = await panel(db, clock.now())

    def wildly_on_the_last(index: int, levels: list[int]) -> list[int]:
        return [*levels[:3], 5 - levels[3] if index % 3 else levels[3]]

    first_month = clock.now().strftime("%Y-%m")
    await score_answers(db, settings, clock, screen, first, second, seconds=wildly_on_the_last)
    clock.advance(days=35)  # the last three a month later: too little data for that month
    await score_answers(
        db, settings, clock, screen, first, second, start=12, count=3, seconds=wildly_on_the_last
    )
    second_month = clock.now().strftime("%Y-%m")

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead.email)
        page = await agreement_page(client, runner, "/lead/agreement?prompt=sample-decision")

    text = page.text
    assert page.status_code == 200
    assert "A verdict is given only when the 95% interval supports it" in text
    assert f"({second_month}): too little data to draw a value" in text
    assert first_month not in text.split("too little data to draw")[0].split("The line breaks")[1]
    [trend] = re.findall(
        r'class="chart trend-chart" src="data:image/svg\+xml;base64,([^"]+)"', text
    )
    svg = base64.b64decode(trend).decode()
    # One month drawn, one a gap: a point, and no line running off towards the gap.
    assert "<path" not in svg and svg.count("<circle") == 1
    assert ">too little</text>" in svg
    # Every verdict shown agrees with its interval: no red label on an interval that
    # reaches above 0.667.
    for row in re.findall(r"<tr[^>]*>\s*<th scope=\"row\">.*?</tr>", text, re.S):
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        if len(cells) == 4 and " to " in cells[2]:
            low, high = (float(v) for v in cells[2].split(" to "))
            verdict = re.sub(r"<[^>]+>", "", cells[0])
            if verdict == "needs a rubric fix":
                assert high < 0.667
            if verdict == "reliable":
                assert low >= 0.8


async def test_the_page_shows_the_stored_figures_until_they_are_recomputed(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    screen, first, second, lead = await panel(db, clock.now())
    await score_answers(db, settings, clock, screen, first, second)
    path = "/lead/agreement?prompt=sample-decision"

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead.email)
        waiting = await client.get(path)
        asked_again = await client.get(path)
        await runner.tick()
        await runner.drain()
        computed = await client.get(path)
        clock.advance(minutes=5)
        # Four more answers decided: the page still shows the stored figures, and says so.
        await score_answers(db, settings, clock, screen, first, second, start=12, count=4)
        first.name = "Ana Bell"  # a snapshot keeps no names: the page shows today's
        await db.commit()
        stale = await client.get(path)
        recompute = await post_form(
            client,
            "/lead/agreement/recompute",
            {"prompt": "sample-decision"},
            follow_redirects=False,
        )
        pending = await client.get(path)
        twice = await post_form(
            client,
            "/lead/agreement/recompute",
            {"prompt": "sample-decision"},
            follow_redirects=False,
        )
        waiting_events = await db.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(
                OutboxEvent.kind == AGREEMENT_COMPUTE, OutboxEvent.status == OutboxStatus.PENDING
            )
        )
        await runner.tick()
        await runner.drain()
        fresh = await client.get(path)

    assert "The figures are being computed" in waiting.text
    assert "<td>1.000</td>" not in waiting.text
    assert "being computed" in asked_again.text
    assert "Computed at" in computed.text and "from 12 decided answers" in computed.text
    assert "(less than a minute ago) from 12" in computed.text  # the age, in words
    assert "of 12 decisions" in computed.text
    assert "<td>1.000</td>" in computed.text  # the first dimension, perfect agreement
    assert "from 12 decided answers" in stale.text and "of 12 decisions" in stale.text
    assert "4 decisions were made since" in stale.text
    assert "Ana Bell" in stale.text
    assert recompute.status_code == 303
    assert recompute.headers["location"] == path
    assert "A computation is waiting" in pending.text
    assert twice.status_code == 303
    assert waiting_events == 1  # one computation waits per prompt, however often asked
    assert "from 16 decided answers" in fresh.text and "were made since" not in fresh.text
    asked = list(
        await db.scalars(select(AuditEvent).where(AuditEvent.action == "agreement.recompute"))
    )
    assert [(a.actor, a.subject_id, a.after) for a in asked] == [
        (
            f"user:{lead.id}:{lead.email}",
            "sample-decision",
            {"prompt": "sample-decision", "queued": q},
        )
        for q in (True, False)
    ]


async def test_the_job_computes_what_the_page_used_to_compute_itself(
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    screen, first, second, _ = await panel(db, clock.now())
    await score_answers(db, settings, clock, screen, first, second)
    clock.advance(days=40)
    await score_answers(db, settings, clock, screen, first, second, start=12)
    await agreement_snapshots.request(db, "sample-decision", None, clock.now())
    await db.commit()
    await runner.tick()
    await runner.drain()

    snapshot = await agreement_snapshots.latest(db, "sample-decision", None)
    assert snapshot is not None
    stored = agreement_snapshots.Figures.from_json(snapshot.data)
    # What the page computed on every view before: the same rules over the same reviews.
    ratings: list[Rating] = []
    submitted = {}
    for review, submitted_at in await db.execute(
        select(Review, Attempt.submitted_at)
        .join(Attempt)
        .where(Review.status == "submitted")
        .order_by(Review.attempt_id, Review.id)
    ):
        submitted[review.attempt_id] = submitted_at.date()
        ratings += [
            Rating(review.attempt_id, review.reviewer_id, key, value["level"])
            for key, value in review.scores.items()
        ]
    levels = [1, 2, 3, 4]
    assert stored.report == agreement_report(ratings, levels, list(DIMENSIONS))
    assert stored.trend == monthly_trend(ratings, levels, submitted)
    stats = reviewer_stats(ratings)
    assert stored.reviewers == (stats[first.id], stats[second.id])
    assert await agreement_snapshots.named(db, stored.reviewers) == [
        ("Ana", stats[first.id]),
        ("Ben", stats[second.id]),
    ]
    assert (stored.decisions, snapshot.decisions) == (24, 24)
    assert stored.report.overall.interval is not None  # the bootstrap ran, in the job


async def test_recompute_is_refused_without_the_role_the_token_or_a_real_prompt(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    _, reviewer, _, lead = await panel(db, clock.now())
    form = {"prompt": "sample-decision"}

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, reviewer.email)
        wrong_role = await post_form(client, "/lead/agreement/recompute", form)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead.email)
        no_token = await client.post("/lead/agreement/recompute", data=form)
        unknown = await post_form(client, "/lead/agreement/recompute", {"prompt": "nope"})
        bad_screen = await post_form(client, "/lead/agreement/recompute", {"screen": "abc"})
        nothing = await post_form(client, "/lead/agreement/recompute", {})

    assert wrong_role.status_code == 403
    assert no_token.status_code == 403
    assert unknown.status_code == 404
    assert bad_screen.status_code == 400 and "screen id" in bad_screen.text
    assert nothing.status_code == 400 and "which prompt" in nothing.text
    assert (
        await db.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.kind == AGREEMENT_COMPUTE)
        )
        == 0
    )
    assert await db.scalar(select(func.count()).select_from(AgreementSnapshot)) == 0
    assert (
        await db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "agreement.recompute")
        )
        == 0
    )


async def test_the_schedule_recomputes_only_figures_an_hour_old_with_decisions_since(
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    screen, first, second, _ = await panel(db, clock.now())
    await score_answers(db, settings, clock, screen, first, second)
    nothing_viewed = await agreement_snapshots.refresh_due(db, clock.now())
    await agreement_snapshots.request(db, "sample-decision", None, clock.now())
    await agreement_snapshots.request(db, "sample-decision", screen.id, clock.now())
    await db.commit()
    await runner.tick()
    await runner.drain()
    clock.advance(minutes=20)
    await score_answers(db, settings, clock, screen, first, second, start=12, count=2)
    too_soon = await agreement_snapshots.refresh_due(db, clock.now())
    clock.advance(hours=1)
    due = await agreement_snapshots.refresh_due(db, clock.now())
    already_waiting = await agreement_snapshots.refresh_due(db, clock.now())
    await db.commit()
    await runner.tick()
    await runner.drain()
    clock.advance(hours=2)
    nothing_new = await agreement_snapshots.refresh_due(db, clock.now())

    assert (nothing_viewed, too_soon, due, already_waiting, nothing_new) == (0, 0, 2, 0, 0)
    for screen_id in (None, screen.id):
        latest = await agreement_snapshots.latest(db, "sample-decision", screen_id)
        assert latest is not None and latest.decisions == 14


@pytest.mark.redis
async def test_a_real_arq_worker_computes_the_figures(
    monkeypatch: pytest.MonkeyPatch,
    smtp: SmtpServer,
    redis_url: str,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    screen, first, second, _ = await panel(db, clock.now())
    await score_answers(db, settings, clock, screen, first, second)
    await agreement_snapshots.request(db, "sample-decision", None, clock.now())
    await db.commit()
    worker_env(monkeypatch, settings, smtp, redis_url)

    await run_worker_burst(redis_url)

    snapshot = await agreement_snapshots.latest(db, "sample-decision", None)
    assert snapshot is not None and snapshot.decisions == 12
    stored = agreement_snapshots.Figures.from_json(snapshot.data)
    assert stored.report.overall.interval is not None
