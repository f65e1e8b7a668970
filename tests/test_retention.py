"""Retention: the policy's dry run lists exactly what its run erases, in batches, audited;
the daily job runs once a day; admins set the policy; candidates are told it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

from click.testing import CliRunner, Result
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import joinedload

from screen.accounts.privacy import retention_policy
from screen.candidate import attempts
from screen.cli import main
from screen.operations import erasure, retention
from screen.platform.clock import FrozenClock, SystemClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import Attempt, AuditEvent, Invitation, OrganisationSettings
from screen.review import agreement_snapshots
from screen.settings import Settings
from tests.support.factories import (
    SAMPLE_SLUG,
    Candidate,
    make_candidate,
    make_submitted,
    make_user,
)
from tests.support.reports import cast, decided, same
from tests.support.staff import post_form, sign_in


@dataclass
class Cohort:
    passed: Candidate
    unused: Candidate
    in_review: Candidate
    fresh_pass: Candidate


async def cohort(db: AsyncSession, settings: Settings, clock: FrozenClock) -> Cohort:
    """Decided and unused candidates now, one left in review, and one decided 300 days later."""
    people = await cast(db, clock.now())
    passed = await decided(db, settings, clock.now(), people, (same(4), same(4)), name="Pam Past")
    unused = await make_candidate(db, settings, clock.now(), screen=people.screen, name="Una Used")
    later = clock.now() + timedelta(days=300)
    fresh_pass = await decided(db, settings, later, people, (same(2), same(2)), name="Fay Fresh")
    # Last, so the reviewers' claims above never take its slots.
    in_review = await make_submitted(
        db, settings, clock.now(), screen=people.screen, name="Ivo Inreview"
    )
    return Cohort(passed, unused, in_review, fresh_pass)


async def agreement(db: AsyncSession) -> agreement_snapshots.Figures:
    """The agreement figures computed from the reviews as they stand (not a snapshot)."""
    prompt = await agreement_snapshots.prompt_for(db, SAMPLE_SLUG, None)
    assert prompt is not None
    return await agreement_snapshots.figures(db, prompt, None)


async def names(db: AsyncSession) -> dict[int, str]:
    rows = await db.execute(
        select(Invitation.id, Invitation.candidate_name).execution_options(populate_existing=True)
    )
    return dict(rows.all())


async def test_the_dry_run_lists_exactly_what_the_run_erases(
    db: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    people = await cohort(db, settings, clock)
    agreement_before = await agreement(db)
    when = clock.now() + timedelta(days=366)
    policy = await retention_policy(db, settings)
    assert (policy.decided_days, policy.unused_days) == (365, 90)

    dry = await retention.due(db, policy, when)
    assert {d.invitation_id for d in dry} == {
        people.passed.invitation_id,
        people.unused.invitation_id,
    }
    assert {d.rule for d in dry} == {"decided", "unused"}
    assert await retention.due_counts(db, policy, when) == {"decided": 1, "unused": 1}
    # The privacy page's counts stop past a cap (cap + 1 reads "more than cap").
    assert await retention.due_counts(db, policy, when, cap=0) == {"decided": 1, "unused": 1}
    assert await retention.due_counts(db, policy, clock.now(), cap=0) == {
        "decided": 0,
        "unused": 0,
    }
    await db.commit()

    run = await retention.apply(sessionmaker, settings, when, batch=1)
    assert sorted(run.erased) == sorted(d.invitation_id for d in dry)
    assert run.batches == 2
    now_named = await names(db)
    assert now_named[people.passed.invitation_id] == erasure.ERASED_NAME
    assert now_named[people.unused.invitation_id] == erasure.ERASED_NAME
    assert now_named[people.in_review.invitation_id] == "Ivo Inreview"  # not ended: kept
    assert now_named[people.fresh_pass.invitation_id] == "Fay Fresh"  # decided 66 days ago
    assert await agreement(db) == agreement_before

    [record] = list(
        await db.scalars(select(AuditEvent).where(AuditEvent.action == retention.APPLIED))
    )
    assert record.actor == "system"
    assert record.after is not None
    assert record.after["candidates"] == 2
    assert record.after["batches"] == 2
    assert record.after["decided_days"] == 365
    # A second run finds nothing, erases nothing, records nothing.
    assert await retention.due(db, policy, when) == []
    again = await retention.apply(sessionmaker, settings, when)
    assert again.erased == []
    assert (
        await db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == retention.APPLIED)
        )
        == 1
    )


async def test_due_comes_longest_due_first_and_leaves_the_erased_out(
    db: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    people = await cohort(db, settings, clock)
    policy = await retention_policy(db, settings)
    when = clock.now() + timedelta(days=700)  # all three ended or lapsed long enough ago
    dry = await retention.due(db, policy, when)
    assert {d.invitation_id for d in dry} == {
        people.passed.invitation_id,
        people.unused.invitation_id,
        people.fresh_pass.invitation_id,
    }
    # Due order: when each became due (the screen ended, or the link expired), then the id.
    assert [(d.since, d.invitation_id) for d in dry] == sorted(
        (d.since, d.invitation_id) for d in dry
    )
    assert dry[-1].invitation_id == people.fresh_pass.invitation_id  # ended 300 days later
    assert await retention.due_ids(db, policy, when) == [d.invitation_id for d in dry]
    # A batch is the head of that order, whichever rule each candidate falls under.
    for size in (1, 2):
        assert await retention.due_ids(db, policy, when, limit=size) == [
            d.invitation_id for d in dry[:size]
        ]
    assert await retention.due_counts(db, policy, when, cap=1) == {"decided": 2, "unused": 1}

    # Erased by hand: its attempt is marked, so the rules' indexes no longer hold it.
    await erasure.erase_candidate(
        db, people.fresh_pass.invitation_id, actor="test", now=clock.now()
    )
    erased = await db.scalar(
        select(Attempt.erased).where(Attempt.invitation_id == people.fresh_pass.invitation_id)
    )
    assert erased is True
    assert await retention.due_ids(db, policy, when) == [d.invitation_id for d in dry[:-1]]
    await db.commit()
    run = await retention.apply(sessionmaker, settings, when, batch=1)
    assert run.erased == [d.invitation_id for d in dry[:-1]]
    assert await retention.due(db, policy, when) == []


async def test_the_daily_job_runs_once_a_day(
    db: AsyncSession, runner: InProcessRunner, settings: Settings, clock: FrozenClock
) -> None:
    people = await cohort(db, settings, clock)
    assert runner.context is not None
    clock.advance(days=366)
    assert await retention.apply_retention(runner.context) == 2
    clock.advance(hours=1)
    assert await retention.apply_retention(runner.context) == 0  # today's run happened
    clock.advance(days=300)  # a new day, and Fay's screen ended 366 days ago
    assert await retention.apply_retention(runner.context) == 1
    assert (await names(db))[people.fresh_pass.invitation_id] == erasure.ERASED_NAME


async def cli(settings: Settings, *args: str) -> Result:
    env = {"SCREEN_DATABASE_URL": settings.database_url}
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def test_an_admin_sets_the_policy_and_the_cli_shows_then_applies_it(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    # The command line runs on the real clock: the frozen one starts 400 days before it.
    clock.set(SystemClock().now() - timedelta(days=400))
    people = await cohort(db, settings, clock)
    admin = await make_user(db, clock.now(), "admin")
    admin_email = admin.email
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, admin.email)
        page = await client.get("/admin/privacy")
        assert page.status_code == 200
        assert "Nothing: no candidate's time is up." in page.text
        assert "for 365 days after the decision" in page.text
        for bad in ("abc", "0", "99999", "-3", "1.5"):
            refused = await post_form(
                client, "/admin/privacy", {"retain_decided_days": bad, "retain_unused_days": ""}
            )
            assert refused.status_code == 400, bad
            assert "whole number of days from 1 to 3,650" in refused.text
        assert await db.get(OrganisationSettings, 1) is None  # nothing was written
        saved = await post_form(
            client,
            "/admin/privacy",
            {"retain_decided_days": "30", "retain_unused_days": ""},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        # 301 days on (the app's clock), Pam's screen ended long enough ago, Fay's a day ago.
        clock.advance(days=301)
        await sign_in(client, admin.email)  # the session of 301 days ago has lapsed
        page = await client.get("/admin/privacy")
        assert "for 30 days after the decision" in page.text
        assert f'href="/recruiter/invitations/{people.passed.invitation_id}"' in page.text
        assert f'href="/recruiter/invitations/{people.fresh_pass.invitation_id}"' not in page.text

    db.expire_all()
    policy = await retention_policy(db, settings)
    assert (policy.decided_days, policy.unused_days, policy.decided_set) == (30, 90, True)
    # On the real clock, Fay's screen ended 100 days ago: due under the admin's 30.
    dry = await cli(settings, "candidates", "retention", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "The next run would erase 3 candidate(s): 2 ended, 1 unused." in dry.output
    assert await names(db) == {
        people.passed.invitation_id: "Pam Past",
        people.unused.invitation_id: "Una Used",
        people.in_review.invitation_id: "Ivo Inreview",
        people.fresh_pass.invitation_id: "Fay Fresh",
    }
    # "--all" alone reads as a listing: refused, nothing erased (a walk ran it and erased).
    listing = await cli(settings, "candidates", "retention", "--all")
    assert listing.exit_code == 2
    assert "--all only lists: add --dry-run. Nothing was erased." in listing.output
    assert (await names(db))[people.passed.invitation_id] == "Pam Past"
    done = await cli(settings, "candidates", "retention")
    assert done.exit_code == 0, done.output
    assert "Erased the personal data of 3 candidate(s)" in done.output
    assert (await names(db))[people.in_review.invitation_id] == "Ivo Inreview"
    [record] = list(
        await db.scalars(select(AuditEvent).where(AuditEvent.action == retention.APPLIED))
    )
    assert record.actor == "cli"
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, admin_email)
        page = await client.get("/admin/privacy")
    past = page.text.split("Past runs", 1)[1]
    assert "<td>3</td><td>30 / 90</td><td>command line</td>" in past


async def test_candidates_are_told_what_is_kept_and_for_how_long(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    db.add(
        OrganisationSettings(
            id=1, privacy_url="https://example.com/privacy", retain_decided_days=200
        )
    )
    await db.commit()
    candidate = await make_candidate(db, settings, clock.now())
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        landing = await client.get(candidate.path)
    assert landing.status_code == 200
    assert "We keep your name, email and answers for 200 days after the decision" in landing.text
    assert "90 days after this link expires if you do not start" in landing.text
    assert 'href="https://example.com/privacy"' in landing.text


async def test_the_invitation_email_tells_the_policy_and_links_the_notice(
    db: AsyncSession,
    runner: InProcessRunner,
    settings: Settings,
    clock: FrozenClock,
    mail_dir: Path,
) -> None:
    db.add(OrganisationSettings(id=1, privacy_url="https://example.com/privacy"))
    await db.commit()
    await make_candidate(db, settings, clock.now())
    await runner.tick()
    await runner.drain()
    [sent] = list(mail_dir.glob("*.eml"))
    message = BytesParser(policy=default).parsebytes(sent.read_bytes())
    parts = [
        part.get_content() for part in message.walk() if part.get_content_type().startswith("text/")
    ]
    assert len(parts) == 2
    for body in parts:
        flat = " ".join(body.split())
        assert "We keep your name, email and answers for 365 days after the decision" in flat
        assert "https://example.com/privacy" in flat
    # In the plain text the address ends its line, so a mail client links exactly it.
    assert "Privacy notice: https://example.com/privacy\n" in parts[0].replace("\r\n", "\n")
    assert "\nGood luck!" in parts[0].replace("\r\n", "\n")
    # And the policy is a bullet of its own, not glued to the line before (found in a walk).
    assert "please do not share it.\n- We keep your name" in parts[0].replace("\r\n", "\n")


async def test_a_started_link_leaves_the_never_used_rule_for_good(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    """The start copies its time onto the invitation, and the "never used" rule reads only
    links without it (its index leaves started ones out): a link that was started and
    then lapsed is never erased as unused, one that was not is."""
    people = await cast(db, clock.now())
    started = await make_candidate(db, settings, clock.now(), screen=people.screen, name="Sam")
    idle = await make_candidate(db, settings, clock.now(), screen=people.screen, name="Ida")
    invitation = await db.scalar(
        select(Invitation)
        .where(Invitation.id == started.invitation_id)
        .options(joinedload(Invitation.screen), joinedload(Invitation.attempt))
    )
    assert invitation is not None
    await attempts.start(db, invitation.attempt, invitation, invitation.screen, clock.now())
    # A second Start (another tab) keeps the first one's time.
    await attempts.start(
        db, invitation.attempt, invitation, invitation.screen, clock.now() + timedelta(minutes=1)
    )
    await db.commit()
    copies = dict((await db.execute(select(Invitation.id, Invitation.started_at))).all())
    assert copies[started.invitation_id] == clock.now() == invitation.attempt.started_at
    assert copies[idle.invitation_id] is None

    policy = await retention_policy(db, settings)
    when = clock.now() + timedelta(days=200)  # both links expired long enough ago
    unused = [d.invitation_id for d in await retention.due(db, policy, when) if d.rule == "unused"]
    assert unused == [idle.invitation_id]
    assert (await retention.due_counts(db, policy, when, cap=10))["unused"] == 1
