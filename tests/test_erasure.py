"""Erasure and access on request: after erasing, nothing in the database names the
candidate or quotes their answer, the screen's figures are unchanged, and the access
document holds everything about them and nothing about anyone else."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import timedelta

from click.testing import CliRunner, Result
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.candidate import attempts
from screen.cli import main
from screen.fairness.categories import DEFAULT_CATEGORIES
from screen.fairness.impact import ImpactView, Scope, impact_view
from screen.operations import data_access, erasure
from screen.platform.clock import FrozenClock
from screen.platform.db import Base
from screen.platform.models import (
    Attempt,
    AuditEvent,
    Decision,
    FollowUpAnswer,
    Invitation,
    LateContent,
    OutboxEvent,
    Review,
    SelfIdentification,
    WebhookDelivery,
)
from screen.platform.signals import EVENT_TYPES
from screen.recruiting import outcomes
from screen.review import agreement_snapshots, similar_answers
from screen.settings import Settings
from tests.support.composition import lose_focus, write_record
from tests.support.factories import SAMPLE_SLUG, Candidate, make_candidate, make_user
from tests.support.reports import Cast, cast, decided, same, score
from tests.support.staff import post_form, sign_in
from tests.support.webhooks import add_endpoint

NAME = "Zephyrine Quillfeather"
EMAIL = "zephyrine.quillfeather@example.org"
EXTERNAL_ID = "gh-cand-ZQ-778899"
SENTENCE = "Marmalade sharding beats quorum reads at dawn"
ANSWER = (
    "We choose pgvector with HNSW because the p95 budget is 300 ms. "
    f"{SENTENCE}, so the index stays warm. Cost stays under the budget."
)
PROBE = "Ask how marmalade sharding behaves under failover"
NOTE = "Zephyrine accepted an offer from the platform team"
FOLLOW_UP = "Zanzibar-flavoured caching was my least certain assumption"
LATE = "Quokka-scale retries added after time ran out"
DISTINCTIVE = (NAME, EMAIL, EXTERNAL_ID, SENTENCE, "Marmalade", PROBE, "Zanzibar", "Quokka")


async def cli(settings: Settings, *args: str) -> Result:
    """The command line against the test database, in a thread: it runs its own loop."""
    env = {"SCREEN_DATABASE_URL": settings.database_url}
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def cli_typing(settings: Settings, typed: str, *args: str) -> Result:
    env = {"SCREEN_DATABASE_URL": settings.database_url}
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), input=typed, env=env)


@dataclass
class World:
    people: Cast
    target: Candidate
    other: Candidate
    recruiter_email: str


async def arrange(db: AsyncSession, settings: Settings, clock: FrozenClock) -> World:
    """Two decided candidates on one screen, the target with every kind of data there is."""
    now = clock.now()
    people = await cast(db, now)
    await add_endpoint(db, settings, clock, "http://127.0.0.1:9/hook", events=EVENT_TYPES)
    target_candidate = await make_candidate(
        db, settings, now, screen=people.screen, name=NAME, email=EMAIL, external_id=EXTERNAL_ID
    )
    # Decided through the same rules as any candidate: started, submitted, scored twice.
    invitation = target_candidate.invitation.invitation
    attempt = target_candidate.invitation.attempt
    await attempts.start(db, attempt, invitation, people.screen, now)
    await attempts.submit(
        db, attempt.id, attempt.revision, ANSWER, now, grace_seconds=60, max_bytes=65536
    )
    await db.commit()
    stored = await write_record(db, target_candidate, now)
    await lose_focus(db, stored, 60_000)
    db.add(LateContent(attempt_id=stored.id, content=LATE, received_at=now))
    db.add(
        SelfIdentification(
            invitation_id=target_candidate.invitation_id,
            answers={"gender": "woman"},
            recorded_at=now,
        )
    )
    db.add(
        FollowUpAnswer(
            attempt_id=stored.id,
            position=1,
            question="What are you least sure of?",
            limit_seconds=180,
            draft=FOLLOW_UP,
            final_answer=FOLLOW_UP,
            submitted_at=now,
        )
    )
    await db.commit()
    await score(db, people.first, same(3), now, probe=PROBE, evidence=f"Quotes: {SENTENCE}")
    await score(db, people.second, same(4), now)
    await similar_answers.check(db, stored.id, now)
    await outcomes.record_outcome(
        db,
        await db.get_one(Invitation, target_candidate.invitation_id),
        "hired",
        NOTE,
        actor="test",
        now=now,
    )
    await db.commit()
    other = await decided(
        db, settings, now, people, (same(2), same(2)), name="Olaf Other", answer="Other text."
    )
    return World(people, target_candidate, other, people.recruiter.email)


async def dump(db: AsyncSession, *, pg_dump: bool = True) -> str:
    """Every value of every table as text (and on PostgreSQL pg_dump's output too). Signed-in
    sessions are left out: every request touches them."""
    parts = []
    for table in Base.metadata.sorted_tables:
        if table.name == "user_sessions":
            continue
        for row in await db.execute(select(table)):
            parts.append(repr(tuple(row)))
    bind = db.get_bind()
    program = shutil.which("pg_dump")
    if pg_dump and bind.dialect.name == "postgresql" and program:
        url = bind.engine.url
        done = await asyncio.to_thread(
            subprocess.run,
            [
                program,
                "--data-only",
                "-h",
                url.host or "127.0.0.1",
                "-p",
                str(url.port or 5432),
                "-U",
                url.username or "postgres",
                url.database or "",
            ],
            capture_output=True,
            check=True,
            env={**os.environ, "PGPASSWORD": url.password or ""},
        )
        parts.append(done.stdout.decode("utf-8"))
    return "\n".join(parts)


async def figures(db: AsyncSession, world: World) -> tuple[object, ...]:
    """What the screen's statistics are made of: agreement, decisions, pass counts."""
    prompt = await agreement_snapshots.prompt_for(db, SAMPLE_SLUG, None)
    assert prompt is not None
    agreement = await agreement_snapshots.figures(db, prompt, None)
    decisions = (
        await db.execute(
            select(Decision.outcome, Decision.weighted_score, Decision.dimension_means).order_by(
                Decision.id
            )
        )
    ).all()
    levels = (await db.execute(select(Review.id, Review.scores).order_by(Review.id))).all()
    return (
        agreement,
        [tuple(d) for d in decisions],
        [(rid, {k: v["level"] for k, v in (s or {}).items()}) for rid, s in levels],
        await outcomes.outcome_table(db, SAMPLE_SLUG),
    )


async def test_an_erased_candidate_is_nowhere_in_the_database_and_the_figures_hold(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    world = await arrange(db, settings, clock)
    before = await dump(db)
    for needle in DISTINCTIVE:
        assert needle in before, needle  # the arrangement really stored each of them
    figures_before = await figures(db, world)
    target = world.target.invitation_id
    screen_id = world.people.screen.id

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, world.recruiter_email)
        page = await client.get(f"/recruiter/invitations/{target}")
        assert "Erase this candidate" in page.text
        confirm = await client.get(f"/recruiter/invitations/{target}/erase")
        assert confirm.status_code == 200
        assert "cannot be undone" in confirm.text
        unchanged = await dump(db, pg_dump=False)
        # No confirmation, or the wrong one: refused with the reason, nothing changed.
        for typed in ("", "erase please", "someone@example.org"):
            refused = await post_form(
                client, f"/recruiter/invitations/{target}/erase", {"confirm": typed}
            )
            assert refused.status_code == 400
            assert "Type ERASE" in refused.text
        assert await dump(db, pg_dump=False) == unchanged
        erased = await post_form(
            client,
            f"/recruiter/invitations/{target}/erase",
            {"confirm": EMAIL.upper()},
            follow_redirects=False,
        )
        assert erased.status_code == 303
        shown = await client.get(erased.headers["location"])
        assert "personal data was erased" in shown.text
        assert NAME not in shown.text
        again = await post_form(
            client, f"/recruiter/invitations/{target}/erase", {"confirm": "ERASE"}
        )
        assert again.status_code == 409
        assert "already erased" in again.text
        # Said as a fact, not as a question about "Erased candidate".
        assert "This candidate's personal data is erased</h1>" in again.text
        assert "Erase Erased candidate" not in again.text
        missing = await post_form(
            client, "/recruiter/invitations/987654/erase", {"confirm": "ERASE"}
        )
        assert missing.status_code == 404

    db.expire_all()
    after = await dump(db)
    for needle in DISTINCTIVE:
        assert needle not in after, needle
    assert "Olaf Other" in after  # the other candidate is untouched
    assert await figures(db, world) == figures_before

    assert await db.scalar(select(func.count()).select_from(SelfIdentification)) == 0
    invitation = await db.get_one(Invitation, target)
    assert invitation.candidate_name == erasure.ERASED_NAME
    assert invitation.candidate_email == erasure.erased_email(target)
    assert invitation.external_id is None
    assert invitation.erased_at == clock.now()
    attempt = await db.scalar(select(Attempt).where(Attempt.invitation_id == target))
    assert attempt is not None
    assert attempt.state == "passed"  # decided candidates keep their state
    assert attempt.final_answer == erasure.ERASED_TEXT
    # Recorded that it happened and by whom, never what.
    records = list(await db.scalars(select(AuditEvent).where(AuditEvent.action == erasure.ERASED)))
    assert [(r.actor.split(":")[0], r.subject_id, r.after) for r in records] == [
        ("user", str(target), {"reason": "request"})
    ]
    # The pipeline hears of it, by ids alone.
    sent = list(
        await db.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_type == "candidate.erased")
        )
    )
    assert len(sent) == 1
    assert sent[0].payload["data"] == {
        "invitation_id": target,
        "screen_id": screen_id,
        "reason": "request",
        "erased_at": clock.now().isoformat(),
    }


async def test_an_unstarted_candidate_is_withdrawn_and_their_unsent_email_is_dropped(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(
        db, settings, clock.now(), name=NAME, email=EMAIL, external_id=EXTERNAL_ID
    )
    pending = await db.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.status == "pending")
    )
    assert pending == 1  # the invitation email, not yet sent
    await erasure.erase_candidate(db, candidate.invitation_id, actor="test", now=clock.now())
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    attempt = await db.scalar(
        select(Attempt).where(Attempt.invitation_id == candidate.invitation_id)
    )
    assert attempt is not None
    assert attempt.state == "withdrawn"
    for needle in (NAME, EMAIL, EXTERNAL_ID):
        assert needle not in await dump(db)


async def test_the_cli_erases_once_and_refuses_twice(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now(), name=NAME, email=EMAIL)
    # The confirmation names who would be erased; answering no erases nothing.
    declined = await cli_typing(
        settings, "n\n", "candidates", "erase", str(candidate.invitation_id)
    )
    assert declined.exit_code == 1
    assert (
        f"Erase the personal data of {NAME} <{EMAIL}> (invitation {candidate.invitation_id}, "
        "screen “Backend engineer, autumn”)? This cannot be undone"
    ) in declined.output
    db.expire_all()
    assert NAME in await dump(db, pg_dump=False)
    first = await cli(settings, "candidates", "erase", str(candidate.invitation_id), "--yes")
    assert first.exit_code == 0, first.output
    assert f"Erased the personal data of invitation {candidate.invitation_id}" in first.output
    second = await cli(settings, "candidates", "erase", str(candidate.invitation_id), "--yes")
    assert second.exit_code == 1
    assert "already erased" in second.output
    unknown = await cli(settings, "candidates", "erase", "987654", "--yes")
    assert unknown.exit_code == 1
    assert "No invitation with id 987654" in unknown.output
    unknown = await cli(settings, "candidates", "erase", "987654")
    assert unknown.exit_code == 1
    assert "No invitation with id 987654" in unknown.output
    db.expire_all()
    assert NAME not in await dump(db)


async def test_the_access_document_holds_everything_about_them_and_round_trips(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    world = await arrange(db, settings, clock)
    target = world.target.invitation_id
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, world.recruiter_email)
        response = await client.get(f"/recruiter/invitations/{target}/data.json")
        assert response.status_code == 200
        assert response.headers["content-disposition"].startswith("attachment;")
        assert response.headers["x-content-type-options"] == "nosniff"
        missing = await client.get("/recruiter/invitations/987654/data.json")
        assert missing.status_code == 404
    document = json.loads(response.content)
    assert json.loads(json.dumps(document)) == document
    assert document["candidate"]["name"] == NAME
    assert document["candidate"]["email"] == EMAIL
    assert document["candidate"]["external_id"] == EXTERNAL_ID
    assert document["attempt"]["answer"] == ANSWER
    assert document["follow_up_answers"][0]["answer"] == FOLLOW_UP
    assert document["late_content"][0]["content"] == LATE
    assert document["composition_record"]
    assert [e["kind"] for e in document["integrity_events"]] == ["focus_lost"]
    assert document["decision"]["outcome"] == "pass"
    assert [o["note"] for o in document["outcomes"]] == [NOTE]
    probes = [r["interview_probe"] for r in document["reviews"]]
    assert PROBE in probes
    assert len(document["reviews"]) == 2
    # Nothing about reviewers beyond their scores and notes, nothing about the other candidate.
    raw = response.text
    for staff in ("Ada Reviewer", "Bo Reviewer", "ada@staff.example", "bo@staff.example"):
        assert staff not in raw
    assert "Olaf Other" not in raw
    assert "Other text." not in raw
    # The composition record reads as named fields, not bare arrays.
    edit = document["composition_record"][0]["edits"][0]
    assert set(edit) == {
        "ms_after_start",
        "position",
        "characters_deleted",
        "inserted",
        "pasted",
    }
    # The document is the candidate's, so it is complete: their self-identification too.
    assert document["self_identification"]["answers"] == {"gender": "woman"}
    assert "self_identifications" not in document["other_records"]
    # A similar-answer match says in words what it was like, for every kind the check
    # writes (screen.review.similar_answers), never which other candidate.
    assert set(data_access._LIKE) == {"attempt", "exemplar", "leak"}
    # The CLI writes the same document (one function makes both).
    out = await cli(settings, "candidates", "export-data", str(target))
    assert out.exit_code == 0, out.output
    from_cli = json.loads(out.output)
    assert {k: v for k, v in from_cli.items() if k != "generated_at"} == {
        k: v for k, v in document.items() if k != "generated_at"
    }
    # Each download is audited, saying how it was made.
    exports = list(
        await db.scalars(
            select(AuditEvent.after)
            .where(AuditEvent.action == "candidate.data_exported")
            .order_by(AuditEvent.id)
        )
    )
    assert exports == [{"via": "web"}, {"via": "cli"}]
    # The recruiter's page offers it as a download only, and says whose it is.
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, world.recruiter_email)
        page = await client.get(f"/recruiter/invitations/{target}")
    assert "Send the file to them without opening it" in page.text
    assert "woman" not in page.text.lower()


async def test_every_table_tied_to_a_candidate_is_either_kept_scrubbed_or_erased() -> None:
    """A new table with a key to invitations or attempts is erased unless it is added to
    KEPT (and scrubbed there): this names the choice so a reviewer sees it."""
    assert {
        "invitations",
        "attempts",
        "reviews",
        "decisions",
        "candidate_outcomes",
        "review_declines",
    } == erasure.KEPT
    erased = set(erasure.erased_tables())
    assert {
        "late_content",
        "composition_batches",
        "follow_up_answers",
        "integrity_events",
        "answer_bands",
        "similarity_matches",
        "reminders_sent",
        "report_shares",
        "self_identifications",
    } <= erased


async def test_a_reviewer_cannot_erase_or_export(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now(), name=NAME, email=EMAIL)
    reviewer = await make_user(db, clock.now() + timedelta(seconds=1), "reviewer")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, reviewer.email)
        path = f"/recruiter/invitations/{candidate.invitation_id}"
        assert (await client.get(f"{path}/data.json")).status_code == 403
        refused = await post_form(client, f"{path}/erase", {"confirm": "ERASE"})
        assert refused.status_code == 403
    db.expire_all()
    assert NAME in await dump(db)


async def fairness(db: AsyncSession) -> ImpactView:
    return await impact_view(db, Scope(), DEFAULT_CATEGORIES, minimum=1)


async def test_fairness_figures_hold_whether_or_not_the_candidate_self_identified(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    now = clock.now()
    people = await cast(db, now)
    named = await decided(db, settings, now, people, (same(4), same(4)), name="Wren Woman")
    quiet = await decided(db, settings, now, people, (same(2), same(2)), name="Quinn Quiet")
    await decided(db, settings, now, people, (same(3), same(3)), name="Otto Other")
    db.add(
        SelfIdentification(
            invitation_id=named.invitation_id, answers={"gender": "woman"}, recorded_at=now
        )
    )
    await db.commit()
    before = await fairness(db)

    # Who never answered the questions: every fairness figure stays as it was.
    await erasure.erase_candidate(db, quiet.invitation_id, actor="test", now=now)
    await db.commit()
    assert await fairness(db) == before

    # Who answered: their answers leave the invitation but still count, unlinked, in their
    # group; a figure that moved would tell which group they had chosen.
    await erasure.erase_candidate(db, named.invitation_id, actor="test", now=now)
    await db.commit()
    assert await fairness(db) == before
