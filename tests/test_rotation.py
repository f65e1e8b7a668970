"""Prompt rotation against leaks: a screen's pool chosen on the screen form, the balanced
draw recorded on each invitation, everything downstream reading the drawn prompt, and
leads retiring an exposed prompt from the library page."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import re
from collections import Counter
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.platform.clock import FrozenClock
from screen.platform.errors import InputError
from screen.platform.jobs import InProcessRunner
from screen.platform.models import (
    Attempt,
    AuditEvent,
    Decision,
    Invitation,
    Prompt,
    Screen,
    ScreenPrompt,
)
from screen.recruiting import rotation
from screen.recruiting.invitations import Candidate as Person
from screen.recruiting.invitations import invite, invite_many
from screen.recruiting.screens import get_screen
from screen.review import similar_answers
from screen.settings import Settings
from tests.support.answers import ANSWER_A, paraphrase
from tests.support.candidates import start
from tests.support.exposure import expected_exposure, library_rows
from tests.support.factories import (
    SAMPLE_SLUG,
    TEST_ACTOR,
    make_candidate,
    make_screen,
    make_submitted,
    make_user,
)
from tests.support.rotation import OTHER_AREA_SLUG, make_variants, prompt_id, variant_key
from tests.support.staff import agreement_page, sign_in

Client = AsyncTestClient[Litestar]
_STAFF = itertools.count(1)


async def pooled_screen(db: AsyncSession, clock: FrozenClock, letters: str = "bc") -> Screen:
    """A screen on the sample prompt rotating among it and the variants in `letters`."""
    screen = await make_screen(db, clock.now())
    variants = await make_variants(db, clock.now(), letters)
    await rotation.set_pool(db, screen, [p.id for p in variants], now=clock.now(), actor=TEST_ACTOR)
    await db.commit()
    return screen


async def drawn(db: AsyncSession, screen_id: int) -> Counter[str]:
    rows = await db.execute(
        select(Prompt.slug, func.count(Invitation.id))
        .join(Prompt, Prompt.id == Invitation.prompt_id)
        .where(Invitation.screen_id == screen_id)
        .group_by(Prompt.slug)
    )
    return Counter({slug: int(n) for slug, n in rows})


async def post(client: Client, path: str, data: dict[str, Any], **kw: Any) -> Any:
    """A form POST with the CSRF token; values may be lists (several ticked boxes)."""
    token = client.cookies.get("screen_csrf")
    assert token, "load a page first"
    return await client.post(path, data={**data, "_csrf_token": token}, **kw)


async def staff_client(app: Litestar, db: AsyncSession, clock: FrozenClock, role: str) -> Client:
    user = await make_user(db, clock.now(), role, email=f"{role}-{next(_STAFF)}@staff.example")
    client = AsyncTestClient(app=app, base_url="http://testserver.local")
    await client.__aenter__()
    await sign_in(client, user.email)
    return client


async def test_a_thousand_invitations_are_balanced_within_five_percent(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await pooled_screen(db, clock)
    order: list[int] = []
    # One at a time (the recruiter's form, the ATS API) and in batches (a CSV import):
    # both go through `invite_many`, and each draw counts the committed ones before it.
    for n in range(400):
        new = await invite(
            db,
            screen,
            name=f"Single {n}",
            email=f"single{n}@example.com",
            now=clock.now(),
            base_url=settings.base_url,
            secret_key=settings.secret_key,
            actor=TEST_ACTOR,
        )
        order.append(new.invitation.prompt_id)
        await db.commit()
    for size in (1, 7, 50, 142, 400):
        start_at = len(order)
        batch = [
            Person(f"Batch {start_at + i}", f"batch{start_at + i}@example.com") for i in range(size)
        ]
        created = await invite_many(
            db, screen, batch, now=clock.now(), base_url="http://x", secret_key="k" * 20
        )
        order.extend(new.invitation.prompt_id for new in created)
        await db.commit()

    counts = await drawn(db, screen.id)
    assert sum(counts.values()) == 1000
    assert set(counts) == {SAMPLE_SLUG, f"{SAMPLE_SLUG}-b", f"{SAMPLE_SLUG}-c"}
    for slug, n in counts.items():
        assert abs(n - 1000 / 3) <= 0.05 * 1000 / 3, (slug, n)
    # Least drawn first makes it exact, not just within 5%: never more than one apart.
    assert max(counts.values()) - min(counts.values()) <= 1
    # Ties are broken at random: the rounds of three do not all come in one order.
    rounds = {tuple(order[i : i + 3]) for i in range(0, 999, 3)}
    assert len(rounds) > 1


async def test_concurrent_invitations_to_one_screen_stay_balanced(
    db: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    screen = await pooled_screen(db, clock)

    async def worker(w: int) -> None:
        for n in range(6):
            async with sessionmaker() as session:
                mine = await get_screen(session, screen.id)
                await invite(
                    session,
                    mine,
                    name=f"Worker {w} {n}",
                    email=f"w{w}-{n}@example.com",
                    now=clock.now(),
                    base_url=settings.base_url,
                    secret_key=settings.secret_key,
                    actor=TEST_ACTOR,
                )
                # Hand the loop to the others while the draw is still uncommitted.
                await asyncio.sleep(0)
                await session.commit()

    await asyncio.gather(*(worker(w) for w in range(5)))
    counts = await drawn(db, screen.id)
    assert sorted(counts.values()) == [10, 10, 10]
    # The guarantee is stronger than the final tally: draws on one screen run one at a
    # time, so at every point of the invitations' order no prompt is two draws ahead.
    running: Counter[int] = Counter()
    pool = [p.id for p in await rotation.pool_prompts(db, screen.id)]
    for drawn_id in await db.scalars(
        select(Invitation.prompt_id)
        .where(Invitation.screen_id == screen.id)
        .order_by(Invitation.id)
    ):
        running[drawn_id] += 1
        assert max(running[i] for i in pool) - min(running[i] for i in pool) <= 1, running


async def test_a_recruiter_chooses_the_pool_and_a_candidate_sees_the_drawn_prompt(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    await make_screen(db, clock.now())  # syncs the library
    [variant] = await make_variants(db, clock.now(), "b")
    sample = await prompt_id(db, SAMPLE_SLUG)
    other = await prompt_id(db, OTHER_AREA_SLUG)
    client = await staff_client(app, db, clock, "recruiter")
    try:
        form = await client.get("/recruiter/screens/new")
        created = await post(
            client,
            "/recruiter/screens",
            {"prompt_id": str(sample), "title": "Rotating screen", "pool": [str(variant.id)]},
            follow_redirects=False,
        )
        screen_path = created.headers["location"]
        edit_form = await client.get(screen_path + "/edit")
        invited = []
        for n in range(2):
            response = await post(
                client,
                screen_path + "/invitations",
                {"name": f"Cand {n}", "email": f"cand{n}@example.com"},
                follow_redirects=False,
            )
            assert response.status_code == 303
            invited.append(response)
    finally:
        await client.__aexit__(None, None, None)

    assert f'name="pool" value="{variant.id}"' in form.text
    assert created.status_code == 303
    # The edit form shows the pool ticked, and offers only prompts of the screen's area.
    assert f'name="pool" value="{variant.id}" checked' in edit_form.text
    assert f'value="{other}"' not in edit_form.text
    screen = await db.scalar(select(Screen).where(Screen.title == "Rotating screen"))
    assert screen is not None and screen.prompt_id == sample
    pool = set(
        await db.scalars(select(ScreenPrompt.prompt_id).where(ScreenPrompt.screen_id == screen.id))
    )
    assert pool == {sample, variant.id}
    changed = await db.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "screen.pool_changed", AuditEvent.subject_id == str(screen.id)
        )
    )
    assert changed is not None and changed.after == {"pool": sorted([sample, variant.id])}

    invitations = list(
        await db.scalars(
            select(Invitation).where(Invitation.screen_id == screen.id).order_by(Invitation.id)
        )
    )
    # Two candidates, two prompts: the second draws the one the first did not.
    assert {i.prompt_id for i in invitations} == {sample, variant.id}
    created_audits = {
        a.subject_id: a.after
        for a in await db.scalars(
            select(AuditEvent).where(AuditEvent.action == "invitation.created")
        )
    }
    for invitation in invitations:
        assert created_audits[str(invitation.id)]["prompt_id"] == invitation.prompt_id


async def test_a_candidate_on_a_pooled_screen_reads_the_prompt_they_drew(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await pooled_screen(db, clock, "b")
    first = await make_candidate(db, settings, clock.now(), screen=screen, name="Ana One")
    second = await make_candidate(db, settings, clock.now(), screen=screen, name="Ben Two")
    variant_id = await prompt_id(db, f"{SAMPLE_SLUG}-b")
    [on_variant] = [c for c in (first, second) if c.invitation.invitation.prompt_id == variant_id]
    [on_sample] = [c for c in (first, second) if c is not on_variant]
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as browser:
        landing = await browser.get(on_variant.path)
        await start(browser, on_variant)
        page = await browser.get(on_variant.path + "/attempt")  # the one-statement path
        other_landing = await browser.get(on_sample.path)
    assert "Variant B: pick a vector store" in landing.text
    assert "VARIANT-B-BODY" in page.text
    assert "Pick a vector store for a 2M-document" not in page.text
    assert "Pick a vector store for a 2M-document" in other_landing.text
    assert "VARIANT-B" not in other_landing.text


async def score_through_the_page(client: Client, page: Any) -> Any:
    """Submit the review on this page with a 4 and a note for every dimension it shows."""
    keys = re.findall(r'name="level\.([a-z_]+)" value="4"', page.text)
    assert keys
    data: dict[str, Any] = {"action": "submit", "recommendation": "yes"}
    for key in keys:
        data[f"level.{key}"] = "4"
        data[f"evidence.{key}"] = "Quantifies the trade-off with the scenario's numbers."
    return await post(client, page.url.path, data, follow_redirects=False)


async def test_reviewers_score_with_the_rubric_of_the_candidates_own_prompt(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await pooled_screen(db, clock, "b")
    for name in ("Ana One", "Ben Two"):
        await make_submitted(db, settings, clock.now(), screen=screen, name=name)
    variant_id = await prompt_id(db, f"{SAMPLE_SLUG}-b")
    pages: list[Any] = []
    for n in (1, 2):
        reviewer = await make_user(db, clock.now(), "reviewer", email=f"rev{n}@staff.example")
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            await sign_in(client, reviewer.email)
            await client.get("/review")
            mine = [await post(client, "/review/next", {}) for _ in range(2)]
            for page in mine:
                submitted = await score_through_the_page(client, page)
                assert submitted.status_code == 303, submitted.text
        pages.extend(mine)

    variant_pages = [p for p in pages if "VARIANT-B-BODY" in p.text]
    sample_pages = [p for p in pages if "VARIANT-B-BODY" not in p.text]
    assert len(variant_pages) == len(sample_pages) == 2
    # Each review page shows the rubric of the prompt its candidate answered.
    for page in variant_pages:
        assert "latency vs cost, variant B" in page.text
        assert f'name="level.{variant_key("b")}"' in page.text
    for page in sample_pages:
        assert "variant B" not in page.text
        assert 'name="level.latency_vs_cost"' in page.text

    # Decided by each prompt's own rule, on its own dimensions.
    rows = await db.execute(
        select(Invitation.prompt_id, Decision.outcome, Decision.dimension_means)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .join(Decision, Decision.attempt_id == Attempt.id)
        .where(Invitation.screen_id == screen.id)
        .execution_options(populate_existing=True)
    )
    decided = {drawn_id: (outcome, set(means or {})) for drawn_id, outcome, means in rows}
    client = await staff_client(app, db, clock, "recruiter")
    try:
        comparison = await client.get(f"/reports/screens/{screen.id}")
    finally:
        await client.__aexit__(None, None, None)
    # Side by side, each candidate under their own prompt's dimensions.
    assert comparison.status_code == 200
    assert "Trade-off: latency vs cost, variant B" in comparison.text
    assert "Trade-off: latency vs cost</" in comparison.text
    assert len(decided) == 2
    assert decided[variant_id][0] == "pass"
    assert variant_key("b") in decided[variant_id][1]
    assert "latency_vs_cost" not in decided[variant_id][1]
    assert "latency_vs_cost" in decided[screen.prompt_id][1]


async def pool_of(db: AsyncSession, screen_id: int) -> set[int]:
    return set(
        await db.scalars(
            select(ScreenPrompt.prompt_id)
            .where(ScreenPrompt.screen_id == screen_id)
            .execution_options(populate_existing=True)
        )
    )


async def test_a_pool_with_another_area_or_an_unknown_prompt_is_refused_and_changes_nothing(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    screen = await pooled_screen(db, clock, "b")
    before = await pool_of(db, screen.id)
    sample = screen.prompt_id
    variant = await prompt_id(db, f"{SAMPLE_SLUG}-b")
    other = await prompt_id(db, OTHER_AREA_SLUG)
    screens_before = await db.scalar(select(func.count(Screen.id)))
    client = await staff_client(app, db, clock, "recruiter")
    try:
        await client.get("/recruiter/screens/new")
        base = {"prompt_id": str(sample), "title": "Should not exist"}
        create_other = await post(client, "/recruiter/screens", {**base, "pool": [str(other)]})
        create_unknown = await post(client, "/recruiter/screens", {**base, "pool": ["999999"]})
        create_junk = await post(client, "/recruiter/screens", {**base, "pool": ["1; drop"]})
        edit = f"/recruiter/screens/{screen.id}/edit"
        settings_form = {
            "title": screen.title,
            "link_valid_days": "7",
            "reviews_required": "2",
            "sla_business_days": "5",
            "reminder_hours": "48, 24",
        }
        edit_other = await post(
            client, edit, {**settings_form, "title": "Renamed", "pool": [str(variant), str(other)]}
        )
        edit_unknown = await post(client, edit, {**settings_form, "pool": ["424242"]})
    finally:
        await client.__aexit__(None, None, None)

    for response in (create_other, edit_other):
        assert response.status_code == 400
        assert "must be of the screen&#39;s skill area (rag-retrieval)" in response.text
        assert f"{OTHER_AREA_SLUG} v1 is fine-tuning" in response.text
    for response in (create_unknown, edit_unknown):
        assert response.status_code == 400
        assert "No prompt with id" in response.text
    assert create_junk.status_code == 400
    assert "is not a prompt id" in create_junk.text
    # Nothing changed: no screen created, the edited screen's title and pool as they were.
    assert await db.scalar(select(func.count(Screen.id))) == screens_before
    assert await pool_of(db, screen.id) == before
    kept = await db.scalar(
        select(Screen.title).where(Screen.id == screen.id).execution_options(populate_existing=True)
    )
    assert kept == screen.title
    assert (
        await db.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "screen.pool_changed")
        )
        == 1
    )  # the factory's


async def test_a_lead_retires_an_exposed_prompt_and_new_candidates_no_longer_draw_it(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await pooled_screen(db, clock, "bc")
    screen_id = screen.id  # the object expires with the rollback below
    had_it = [
        await make_candidate(
            db, settings, clock.now(), screen=screen, name=f"Early {n}", email=f"early{n}@x.org"
        )
        for n in range(3)
    ]
    variant_b = await prompt_id(db, f"{SAMPLE_SLUG}-b")
    reviewer = await staff_client(app, db, clock, "reviewer")
    try:
        await reviewer.get("/review")
        refused = await post(reviewer, f"/lead/prompts/{variant_b}/retire", {})
    finally:
        await reviewer.__aexit__(None, None, None)
    lead = await staff_client(app, db, clock, "lead")
    try:
        library = await lead.get("/lead/prompts")
        unknown = await post(lead, "/lead/prompts/987654/retire", {})
        retired = await post(lead, f"/lead/prompts/{variant_b}/retire", {})
        after = await lead.get("/lead/prompts")
    finally:
        await lead.__aexit__(None, None, None)

    variant_name = "Variant B: pick a vector store under a new budget, version 1"
    assert f'Retire<span class="visually-hidden"> {variant_name}</span>' in library.text
    assert refused.status_code == 403
    assert unknown.status_code == 404
    assert retired.status_code == 200  # followed to the library
    assert f'Restore<span class="visually-hidden"> {variant_name}</span>' in after.text
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "prompt.retired"))
    assert event is not None and event.actor.startswith("user:")
    assert event.after == {"slug": f"{SAMPLE_SLUG}-b", "version": 1, "pools": [screen.id]}

    later = [
        await make_candidate(
            db, settings, clock.now(), screen=screen, name=f"Later {n}", email=f"later{n}@x.org"
        )
        for n in range(6)
    ]
    assert all(c.invitation.invitation.prompt_id != variant_b for c in later)
    assert sorted(Counter(c.invitation.invitation.prompt_id for c in later).values()) == [3, 3]
    # Those who drew it keep it.
    kept = await db.scalars(
        select(Invitation.prompt_id).where(Invitation.id.in_([c.invitation_id for c in had_it]))
    )
    assert variant_b in set(kept)
    # A retired prompt cannot join a pool again; a screen whose pool is all retired refuses
    # new candidates rather than hand out an exposed prompt.
    other_screen = await make_screen(db, clock.now(), title="Second screen")
    with pytest.raises(InputError, match="is retired"):
        await rotation.set_pool(db, other_screen, [variant_b], now=clock.now(), actor=TEST_ACTOR)
    await db.rollback()
    for slug in (SAMPLE_SLUG, f"{SAMPLE_SLUG}-c"):
        await rotation.set_retired(
            db, await prompt_id(db, slug), retired=True, now=clock.now(), actor=TEST_ACTOR
        )
    await db.commit()
    client = await staff_client(app, db, clock, "recruiter")
    try:
        await client.get(f"/recruiter/screens/{screen_id}")
        blocked = await post(
            client,
            f"/recruiter/screens/{screen_id}/invitations",
            {"name": "Too Late", "email": "late@example.com"},
        )
    finally:
        await client.__aexit__(None, None, None)
    assert blocked.status_code == 409
    assert "Every prompt in this screen&#39;s pool is retired" in blocked.text


async def test_the_library_and_agreement_pages_show_each_prompts_exposure(
    app: Litestar,
    runner: InProcessRunner,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
) -> None:
    screen = await pooled_screen(db, clock, "b")
    variant_b = await prompt_id(db, f"{SAMPLE_SLUG}-b")
    # Near-copies of one answer: whichever prompt each drew, both prompts get a pair.
    answers = [ANSWER_A, paraphrase(ANSWER_A, 0.1, seed=7), ANSWER_A + " Done.", ANSWER_A + " End."]
    submitted = [
        await make_submitted(
            db,
            settings,
            clock.now(),
            screen=screen,
            name=f"Cand {n}",
            email=f"cand{n}@x.org",
            answer=answer,
        )
        for n, answer in enumerate(answers)
    ]
    await runner.tick()
    await runner.drain()
    # One more who started and has not submitted: seen, not flagged.
    writing = await make_candidate(db, settings, clock.now(), screen=screen, name="Still Writing")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as browser:
        await start(browser, writing)
    lead_user = await make_user(db, clock.now(), "lead")
    on_b = [c for c in submitted if c.invitation.invitation.prompt_id == variant_b]
    leaked_text = on_b[0].invitation.attempt.final_answer or ""
    await similar_answers.add_leak(
        db, lead_user, f"{SAMPLE_SLUG}-b", "a forum post", leaked_text, clock.now()
    )
    await db.commit()
    await runner.drain()
    await make_submitted(db, settings, clock.now(), screen=screen, name="Reviewed One")
    reviewer = await make_user(db, clock.now(), "reviewer")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, reviewer.email)
        await client.get("/review")
        for _ in range(2):
            page = await post(client, "/review/next", {})
            if "/review/" in page.url.path:
                await score_through_the_page(client, page)

    exposure = await expected_exposure(db)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead_user.email)
        library = await client.get("/lead/prompts")
        before = await client.get("/lead/agreement")
        # The list of prompts shows what each prompt's latest figures counted: compute them.
        for slug in exposure:
            await agreement_page(client, runner, f"/lead/agreement?prompt={slug}")
        agreement = await client.get("/lead/agreement")

    rows = library_rows(library.text)
    for slug, (seen, similar, leaked) in exposure.items():
        assert rows[slug] == [str(seen), str(similar), str(leaked)], (slug, rows[slug])
    # The figures are not all zero: this test can tell a count from a placeholder.
    assert exposure[f"{SAMPLE_SLUG}-b"][2] >= 1
    assert sum(e[0] for e in exposure.values()) == 6
    assert sum(e[1] for e in exposure.values()) == 4
    listed = [slug for slug in exposure if f'?prompt={slug}"' in agreement.text]
    assert listed
    # Before any figures, a prompt is listed as not computed yet (never counted on the view).
    assert "not computed yet" in before.text
    for slug in listed:
        seen, similar, leaked = exposure[slug]
        row = re.search(rf'\?prompt={slug}".*?</tr>', agreement.text, re.S)
        assert row, slug
        # Decided answers, then seen by, similar and leaked.
        assert re.findall(r"<td>(\d+)</td>", row.group(0))[1:] == [
            str(seen),
            str(similar),
            str(leaked),
        ]


async def test_exports_and_the_recruiters_page_name_each_candidates_own_prompt(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await pooled_screen(db, clock, "b")
    for n in range(4):
        await make_submitted(
            db, settings, clock.now(), screen=screen, name=f"Cand {n}", email=f"c{n}@x.org"
        )
    drawn_by_id = dict(
        (
            await db.execute(
                select(Invitation.id, Prompt.slug)
                .join(Prompt, Prompt.id == Invitation.prompt_id)
                .where(Invitation.screen_id == screen.id)
            )
        ).all()
    )
    titles = dict((await db.execute(select(Prompt.slug, Prompt.title))).all())
    client = await staff_client(app, db, clock, "recruiter")
    try:
        exported = await client.get(f"/recruiter/screens/{screen.id}/export?format=csv")
        pages = {i: await client.get(f"/recruiter/invitations/{i}") for i in drawn_by_id}
        dashboard = await client.get(f"/recruiter/screens/{screen.id}")
    finally:
        await client.__aexit__(None, None, None)

    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    header = rows[0]
    # Score columns for the keys of every prompt in the pool, the screen's own first.
    assert "score_latency_vs_cost" in header and f"score_{variant_key('b')}" in header
    assert header.index("score_latency_vs_cost") < header.index(f"score_{variant_key('b')}")
    slug_at = header.index("prompt_slug")
    per_row = {int(row[0]): row[slug_at] for row in rows[1:]}
    assert per_row == drawn_by_id
    assert set(per_row.values()) == {SAMPLE_SLUG, f"{SAMPLE_SLUG}-b"}
    # The audit record's row count (the screen's counters, one per drawn prompt, summed)
    # is the file's.
    logged = await db.scalar(
        select(AuditEvent.after).where(AuditEvent.action == "export.csv").order_by(AuditEvent.id)
    )
    assert logged == {"rows": len(rows) - 1, "format": "csv"}
    for invitation_id, slug in drawn_by_id.items():
        # The recruiter's pages name a prompt by its title (the slug is for ids and exports).
        assert f"<dd>{titles[slug]}" in pages[invitation_id].text
        drawn_note = "drawn from the screen's rotation pool" in pages[invitation_id].text
        assert drawn_note == (slug != SAMPLE_SLUG)
    counted = Counter(drawn_by_id.values())
    assert (
        f"Rotating among 2 prompts: {titles[SAMPLE_SLUG]} ({counted[SAMPLE_SLUG]} candidate"
    ) in dashboard.text.replace("&#39;", "'")
    assert f"{titles[SAMPLE_SLUG + '-b']} ({counted[SAMPLE_SLUG + '-b']} candidate" in (
        dashboard.text.replace("&#39;", "'")
    )
