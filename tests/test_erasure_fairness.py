"""Erasing a self-identified candidate moves no fairness figure (so comparing the page
before and after says nothing about their answers), and what the figures keep of them is
tied to no invitation."""

from __future__ import annotations

import json
import re
from pathlib import Path

from alembic import command
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from screen.fairness.categories import DEFAULT_CATEGORIES
from screen.fairness.impact import Scope, impact_view
from screen.operations import erasure, fairness_facts
from screen.platform import migrate
from screen.platform.clock import FrozenClock
from screen.platform.db import create_engine, create_sessionmaker
from screen.platform.jobs import InProcessRunner
from screen.platform.models import (
    ErasedFairnessFacts,
    FairnessSnapshot,
    Invitation,
    SelfIdentification,
)
from screen.settings import Settings
from tests.support.factories import SAMPLE_SLUG, make_submitted
from tests.support.reports import Cast, cast, decided, same
from tests.support.staff import fairness_page, post_form, sign_in

# Two groups of five besides the target, so the target's group is shown with a count.
PLAN = [("woman", "asian", True)] * 3 + [("woman", "white", False)] * 2
PLAN += [("man", "white", True)] * 2 + [("man", "asian", False)] * 3


async def arrange(db: AsyncSession, settings: Settings, clock: FrozenClock) -> tuple[Cast, int]:
    now = clock.now()
    people = await cast(db, now)
    target = 0
    for i, (gender, race, passes) in enumerate([("woman", "asian", True), *PLAN]):
        level = same(4) if passes else same(1)
        candidate = await decided(db, settings, now, people, (level, level), name=f"Pat{i} Test")
        db.add(
            SelfIdentification(
                invitation_id=candidate.invitation_id,
                answers={"gender": gender, "race_ethnicity": race},
                recorded_at=now,
            )
        )
        target = target or candidate.invitation_id
    await db.commit()
    return people, target


async def views(
    app: Litestar, runner: InProcessRunner, lead: str, screen_id: int, *, recompute: bool = False
) -> list[bytes]:
    """The page (its figures computed by the job, recomputed first if asked) and its CSV,
    overall, for the screen and for the prompt."""
    found = []
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead)
        for query, form in (
            ("", {}),
            (f"?screen={screen_id}", {"screen": str(screen_id)}),
            (f"?prompt={SAMPLE_SLUG}", {"prompt": SAMPLE_SLUG}),
        ):
            if recompute:
                asked = await post_form(
                    client, "/lead/fairness/recompute", form, follow_redirects=False
                )
                assert asked.status_code == 303
            for path in ("/lead/fairness", "/lead/fairness/export.csv"):
                if path == "/lead/fairness":
                    response = await fairness_page(client, runner, path + query)
                else:
                    response = await client.get(path + query)
                assert response.status_code == 200, response.text
                # The sign-out form's token is the session's, not the page's.
                found.append(re.sub(rb'name="_csrf_token" value="[^"]+"', b"", response.content))
    return found


async def test_the_page_and_csv_are_byte_identical_after_erasing_a_self_identified_candidate(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    people, target = await arrange(db, settings, clock)
    lead, screen_id = people.lead.email, people.screen.id
    before = await views(app, runner, lead, screen_id)
    assert b"Woman" in before[0] and b",6,6,6,4," in before[1]  # the target's group, 6 strong

    await erasure.erase_candidate(db, target, actor="test", now=clock.now())
    await db.commit()
    # Figures computed again after the erasure, not the snapshot from before it.
    assert await views(app, runner, lead, screen_id, recompute=True) == before
    assert await db.scalar(select(func.count()).select_from(FairnessSnapshot)) == 6

    # The answers are no longer linked to the invitation: no self-identification row, and
    # the pool they moved to has no invitation or attempt key, no timestamp, no row of
    # its own per candidate.
    db.expire_all()
    assert (
        await db.scalar(
            select(func.count())
            .select_from(SelfIdentification)
            .where(SelfIdentification.invitation_id == target)
        )
        == 0
    )
    columns = {c.name for c in ErasedFairnessFacts.__table__.columns}
    assert columns == {"id", "screen_id", "prompt_id", "facts"}
    pools = list(await db.scalars(select(ErasedFairnessFacts)))
    assert len(pools) == 1
    (fact,) = pools[0].facts
    assert set(fact) == fairness_facts.FACT_KEYS
    assert fact["answers"] == {"gender": "woman", "race_ethnicity": "asian"}
    assert fact["passed"] is True
    invitation = await db.get_one(Invitation, target)
    assert invitation.candidate_email not in json.dumps(fact)


async def test_erasing_one_of_a_persons_two_candidacies_moves_no_figure(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    """Counting people by email made the erased candidacy a second person afterwards: the
    group's count rose by one, and the difference named the person's group."""
    people, target = await arrange(db, settings, clock)
    target_email = (await db.get_one(Invitation, target)).candidate_email
    twin = await db.scalar(
        select(Invitation.id).where(Invitation.id != target).order_by(Invitation.id).limit(1)
    )
    await db.execute(
        update(Invitation).where(Invitation.id == twin).values(candidate_email=target_email)
    )
    await db.commit()
    lead, screen_id = people.lead.email, people.screen.id
    before = await views(app, runner, lead, screen_id)

    await erasure.erase_candidate(db, target, actor="test", now=clock.now())
    await db.commit()
    assert await views(app, runner, lead, screen_id, recompute=True) == before


async def test_erasing_an_answer_still_in_review_moves_no_figure(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    """Erasure withdraws a screen in progress, and the figures leave withdrawn candidates
    out: kept too late, the answer dropped from its group's row (found in a walk: Under 30
    went from 14 submissions to 13 when one under-30 candidate in review was erased)."""
    people, _ = await arrange(db, settings, clock)
    pending = await make_submitted(
        db, settings, clock.now(), screen=people.screen, name="Quinn Pending"
    )
    db.add(
        SelfIdentification(
            invitation_id=pending.invitation_id,
            answers={"gender": "woman", "race_ethnicity": "asian"},
            recorded_at=clock.now(),
        )
    )
    await db.commit()
    lead, screen_id = people.lead.email, people.screen.id
    before = await views(app, runner, lead, screen_id)
    assert b",7,7,6,4," in before[1]  # the woman's row: 7 submissions, 6 decided

    await erasure.erase_candidate(db, pending.invitation_id, actor="test", now=clock.now())
    await db.commit()
    assert await views(app, runner, lead, screen_id, recompute=True) == before


async def test_the_pool_keeps_no_order_of_erasure(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    """Erasures one at a time (as the audit log lists them) leave the facts sorted by
    content, not in the order they were erased."""
    people, _ = await arrange(db, settings, clock)
    ids = list(
        await db.scalars(
            select(Invitation.id)
            .where(Invitation.screen_id == people.screen.id)
            .order_by(Invitation.id.desc())
        )
    )
    for invitation_id in ids[:4]:
        await erasure.erase_candidate(db, invitation_id, actor="test", now=clock.now())
        await db.commit()
    db.expire_all()
    (pool,) = list(await db.scalars(select(ErasedFairnessFacts)))
    assert len(pool.facts) == 4
    assert pool.facts == sorted(pool.facts, key=lambda f: json.dumps(f, sort_keys=True))
    assert len({f["person"] for f in pool.facts}) == 4


async def test_candidates_erased_before_the_pool_existed_still_count(
    tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    """Revision 0025 copies candidates erased before it into the pool (as "not stated",
    as they counted then): the fairness page, which now reads erased candidates from the
    pool only, loses no one."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'older.db'}")
    try:
        await migrate.upgrade(engine)
        sessions = create_sessionmaker(engine)
        now = clock.now()
        async with sessions() as db:
            people = await cast(db, now)
            erased = await decided(db, settings, now, people, (same(4), same(4)), name="Ann Early")
            await decided(db, settings, now, people, (same(1), same(1)), name="Bob Later")
            await erasure.erase_candidate(db, erased.invitation_id, actor="test", now=now)
            await db.commit()
            before = await impact_view(db, Scope(), DEFAULT_CATEGORIES, minimum=3)
            assert before.submissions == 2

        def back_to_0024(connection: Connection) -> None:
            config = migrate.alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0024")  # the pool goes, as before it existed

        async with engine.begin() as connection:
            await connection.run_sync(back_to_0024)
        await migrate.upgrade(engine)
        async with sessions() as db:
            (pool,) = list(await db.scalars(select(ErasedFairnessFacts)))
            assert [(f["answers"], f["passed"]) for f in pool.facts] == [({}, True)]
            assert await impact_view(db, Scope(), DEFAULT_CATEGORIES, minimum=3) == before
    finally:
        await engine.dispose()
