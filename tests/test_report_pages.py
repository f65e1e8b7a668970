"""The candidate report through HTTP: what it shows and when, who reaches it, share links,
the comparison table and its bulk outcome, and hostile text kept inert."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import AuditEvent, CandidateOutcome, Decision
from screen.recruiting.screens import assign_hiring_manager
from screen.report import comparison_pages
from screen.review import decisions
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user
from tests.support.reports import cast, decided, same, score
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
XSS = "<script>alert(1)</script>"
SHARE_LINK = re.compile(r"http://[^\s<\"]+/shared/([A-Za-z0-9_\-]+)")


def client_for(app: Litestar) -> Client:
    return AsyncTestClient(app=app, base_url="http://testserver.local")


async def views(db: AsyncSession, invitation_id: int) -> list[AuditEvent]:
    await db.rollback()
    return list(
        await db.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action == "report.viewed",
                AuditEvent.subject_id == str(invitation_id),
            )
            .order_by(AuditEvent.id)
        )
    )


async def test_a_passed_candidates_report_shows_the_evidence_and_the_interview_guide(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    passed = await decided(
        db,
        settings,
        clock.now(),
        people,
        (same(4), same(3)),
        name="Pat Pass",
        answer="## Choice\n\nWe pick **pgvector** with HNSW: p95 300 ms.",
        probes=("Ask how recall was measured at ef_search=64.", None),
    )

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        response = await client.get(f"/reports/{passed.invitation_id}")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert "Pat Pass" in page
    assert "pat@example.com" in page
    assert "Pick a vector store for a 2M-document search feature" in page
    assert '<details class="prompt-details">' in page
    # The decision as the pipeline states it, with the rule's version.
    decision = await db.scalar(select(Decision))
    assert decision is not None
    assert decision.final_explanation in page
    assert decision.rule_version in page
    assert "Pass · weighted score 3.50" in page
    # The dimension table: weights, floors, each reviewer's level and note, the mean.
    assert "Ada Reviewer" in page and "Bo Reviewer" in page
    assert "Trade-off: latency vs cost" in page
    assert "weight 30% · floor 2" in page
    assert "Evidence pointing at the answer&#39;s numbers." in page
    assert "<strong>3.50</strong>" in page
    # The chart and its data table.
    assert f'src="/reports/{passed.invitation_id}/chart.svg"' in page
    assert "The chart's numbers" in page
    assert "pass threshold 2.75" in page
    # Recommendations, worded as on the scoring form; the interview guide.
    assert "<strong>Ada Reviewer</strong>: Strong yes" in page
    assert "<strong>Bo Reviewer</strong>: Yes" in page
    assert "Ask how recall was measured at ef_search=64." in page
    # The answer as sanitised Markdown; integrity worded as context.
    assert "<strong>pgvector</strong>" in page
    assert "Context, not verdicts" in page
    assert "Time used" in page and "of 30.0 minutes" in page

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        chart = await client.get(f"/reports/{passed.invitation_id}/chart.svg")
    assert chart.status_code == 200
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in chart.text and "Weighted score" in chart.text


async def test_a_failed_report_marks_the_dimension_below_its_floor(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    low = {**same(4), "latency_vs_cost": 1}
    failed = await decided(db, settings, clock.now(), people, (low, low), name="Fay Fail")

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        page = (await client.get(f"/reports/{failed.invitation_id}")).text

    assert "Fail · weighted score" in page
    assert "below the floor" in page
    assert "<strong>Ada Reviewer</strong>: Strong yes" not in page
    assert "No reviewer left questions" in page


async def test_an_adjudicated_report_names_the_lead_and_the_reason(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    split = await decided(db, settings, clock.now(), people, (same(4), same(1)), name="Ada Split")
    decision = await db.scalar(select(Decision))
    assert decision is not None and decision.outcome == "needs_adjudication"

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        waiting = (await client.get(f"/reports/{split.invitation_id}")).text
    assert "State: needs adjudication." in waiting
    assert "Ada Reviewer" not in waiting

    await decisions.adjudicate(
        db,
        decision.attempt_id,
        people.lead,
        "pass",
        "Strong trade-off reasoning overall.",
        clock.now(),
    )
    await db.commit()
    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        page = (await client.get(f"/reports/{split.invitation_id}")).text

    assert "Adjudicated by</dt><dd>Lee Lead" in page
    assert "Strong trade-off reasoning overall." in page
    assert "adjudicated by a lead" in page
    assert "Ada Reviewer" in page


async def test_before_the_decision_only_the_state_and_the_sla_are_shown(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    waiting = await make_submitted(
        db, settings, clock.now(), screen=people.screen, name="Una Waiting"
    )
    await score(db, people.first, same(4), clock.now(), probe="A probe nobody sees yet.")

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        response = await client.get(f"/reports/{waiting.invitation_id}")
        chart = await client.get(f"/reports/{waiting.invitation_id}/chart.svg")

    page = response.text
    assert response.status_code == 200
    assert "Una Waiting" in page
    assert "State: in review." in page
    assert "The review is due by" in page
    assert "Ada Reviewer" not in page
    assert "A probe nobody sees yet." not in page
    assert "Evidence pointing" not in page
    assert "Scores by dimension" not in page
    assert chart.status_code == 404


async def test_hiring_managers_read_only_their_screens_reports(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    passed = await decided(db, settings, clock.now(), people, (same(4), same(4)), name="Pat Pass")
    other_screen = await make_screen(db, clock.now(), title="Another team")
    await db.commit()
    other = await make_user(db, clock.now(), "hiring_manager", email="other@staff.example")
    await assign_hiring_manager(db, other_screen, other.email, actor="test", now=clock.now())
    await assign_hiring_manager(
        db, people.screen, people.manager.email, actor="test", now=clock.now()
    )
    await db.commit()
    path = f"/reports/{passed.invitation_id}"

    async with client_for(app) as client:
        await sign_in(client, other.email)
        home = await client.get("/hiring")
        assert "Another team" in home.text
        assert "Backend engineer" not in home.text
        assert (await client.get(path)).status_code == 404
        assert (await client.get(f"{path}/chart.svg")).status_code == 404
        assert (await client.get(f"/reports/screens/{people.screen.id}")).status_code == 404
        assert (await client.get("/reports/99999")).status_code == 404
        refused = await post_form(client, f"{path}/outcome", {"outcome": "advanced"})
        assert refused.status_code == 404

    async with client_for(app) as client:
        await sign_in(client, people.manager.email)
        home = await client.get("/hiring")
        assert f'href="/reports/screens/{people.screen.id}"' in home.text
        assert "/review" not in home.text.split("<main")[0]
        assert "/recruiter" not in home.text
        page = await client.get(path)
        assert page.status_code == 200
        assert "Pat Pass" in page.text
        assert "Create a share link" not in page.text
        recorded = await post_form(
            client,
            f"{path}/outcome",
            {"outcome": "advanced", "note": "Live interview"},
            follow_redirects=False,
        )
        assert recorded.status_code == 303
        share = await post_form(client, f"{path}/shares", {"days": "7"})
        assert share.status_code == 403
        assert (await client.get("/review")).status_code == 403

    outcome = await db.scalar(select(CandidateOutcome))
    assert outcome is not None and outcome.outcome == "advanced"
    assert outcome.recorded_by.endswith(people.manager.email)


async def test_every_view_is_audited(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    passed = await decided(db, settings, clock.now(), people, (same(4), same(4)), name="Pat Pass")

    async with client_for(app) as client:
        await sign_in(client, people.lead.email)
        await client.get(f"/reports/{passed.invitation_id}")
        await client.get(f"/reports/{passed.invitation_id}")

    events = await views(db, passed.invitation_id)
    assert len(events) == 2
    assert all(e.actor == f"user:{people.lead.id}:{people.lead.email}" for e in events)
    assert events[0].after == {"as": "page"}


async def test_a_share_link_shows_the_report_without_the_email_until_it_expires(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    passed = await decided(db, settings, clock.now(), people, (same(4), same(4)), name="Pat Pass")
    path = f"/reports/{passed.invitation_id}"

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        await client.get(path)
        too_long = await post_form(client, f"{path}/shares", {"days": "31"})
        assert too_long.status_code == 400
        created = await post_form(client, f"{path}/shares", {"days": "2"})
        assert created.status_code == 200
        assert created.headers["cache-control"] == "no-store"
        match = SHARE_LINK.search(created.text)
        assert match, created.text
        token = match.group(1)
        listed = await client.get(path)
        assert '<span class="tag ok">Active</span>' in listed.text
        assert token not in listed.text

    async with client_for(app) as stranger:
        shared = await stranger.get(f"/shared/{token}")
        assert shared.status_code == 200
        assert "Pat Pass" in shared.text
        assert "pat@example.com" not in shared.text
        assert "Ada Reviewer" in shared.text
        assert shared.headers["x-robots-tag"].startswith("noindex")
        assert shared.headers["referrer-policy"] == "no-referrer"
        assert shared.headers["cache-control"] == "no-store"
        assert '<meta name="robots" content="noindex">' in shared.text
        assert "Sign out" not in shared.text
        chart = await stranger.get(f"/shared/{token}/chart.svg")
        assert chart.status_code == 200
        forged = await stranger.get("/shared/" + "A" * 32)
        assert forged.status_code == 404
        clock.advance(days=2, seconds=1)
        expired = await stranger.get(f"/shared/{token}")
        assert expired.status_code == 410
        assert "expired" in expired.text

    events = await views(db, passed.invitation_id)
    assert [e.after for e in events] == [{"as": "page"}, {"as": "page"}, {"as": "share"}]
    assert events[-1].actor.startswith("share:")


async def test_a_revoked_share_link_is_gone(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    passed = await decided(db, settings, clock.now(), people, (same(4), same(4)), name="Pat Pass")
    path = f"/reports/{passed.invitation_id}"

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        await client.get(path)
        created = await post_form(client, f"{path}/shares", {})
        match = SHARE_LINK.search(created.text)
        assert match
        token = match.group(1)
        assert (await client.get(f"/shared/{token}")).status_code == 200
        listed = (await client.get(path)).text
        share_id = re.search(r"/shares/(\d+)/revoke", listed)
        assert share_id
        revoked = await post_form(
            client, f"{path}/shares/{share_id.group(1)}/revoke", follow_redirects=False
        )
        assert revoked.status_code == 303
        assert "revoked" in (await client.get(path)).text
        gone = await client.get(f"/shared/{token}")

    assert gone.status_code == 410
    assert "revoked" in gone.text


async def test_the_comparison_table_sorts_by_any_column(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    await decided(db, settings, clock.now(), people, (same(3), same(3)), name="Bea Middle")
    await decided(
        db,
        settings,
        clock.now(),
        people,
        ({**same(4), "first_week": 1}, {**same(4), "first_week": 2}),
        name="Cy High",
    )
    await decided(db, settings, clock.now(), people, (same(1), same(2)), name="Al Low")
    await make_submitted(db, settings, clock.now(), screen=people.screen, name="Una Waiting")
    base = f"/reports/screens/{people.screen.id}"

    def names(html: str) -> list[str]:
        return re.findall(r'<th scope="row"><a href="/reports/\d+">([^<]+)</a>', html)

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        by_score = await client.get(base)
        by_name = await client.get(f"{base}?sort=name&order=asc")
        by_week = await client.get(f"{base}?sort=dim:first_week&order=desc")
        bad = await client.get(f"{base}?sort=email")

    assert by_score.status_code == 200
    assert names(by_score.text) == ["Cy High", "Bea Middle", "Al Low"]
    assert names(by_name.text) == ["Al Low", "Bea Middle", "Cy High"]
    assert names(by_week.text) == ["Bea Middle", "Al Low", "Cy High"]
    assert "Una Waiting" not in by_score.text
    assert bad.status_code == 400
    assert "Cannot sort by" in bad.text


async def test_the_comparison_shows_the_first_rows_of_the_chosen_order_and_says_so(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sort and the cut happen in the database, so the page costs the same at any
    # size of history; two rows stand in for the 200 a real view shows.
    monkeypatch.setattr(comparison_pages, "SHOWN", 2)
    people = await cast(db, clock.now())
    await decided(db, settings, clock.now(), people, (same(3), same(3)), name="Bea Middle")
    await decided(db, settings, clock.now(), people, (same(4), same(4)), name="Cy High")
    await decided(db, settings, clock.now(), people, (same(1), same(2)), name="Al Low")
    base = f"/reports/screens/{people.screen.id}"

    def names(html: str) -> list[str]:
        return re.findall(r'<th scope="row"><a href="/reports/\d+">([^<]+)</a>', html)

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        top = await client.get(base)
        bottom = await client.get(f"{base}?sort=score&order=asc")
        by_outcome = await client.get(f"{base}?sort=outcome&order=desc")
        by_decided = await client.get(f"{base}?sort=decided&order=asc")

    assert names(top.text) == ["Cy High", "Bea Middle"]
    assert names(bottom.text) == ["Al Low", "Bea Middle"]
    assert "Showing the first 2 of 3 decided candidates in this order" in top.text
    # No outcome yet anywhere: the tie is broken by name.
    assert names(by_outcome.text) == ["Al Low", "Bea Middle"]
    assert by_decided.status_code == 200
    assert len(names(by_decided.text)) == 2


async def test_the_comparison_lists_only_its_own_screens_decided_candidates(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    # The page finds the screen's decisions through the copy of the screen a trigger
    # writes on each decision (migration 0035): another screen's better scores stay out.
    people = await cast(db, clock.now())
    await decided(db, settings, clock.now(), people, (same(3), same(3)), name="Mo Mine")
    # The same score: ties on the score come newest first (one index serves the order).
    await decided(db, settings, clock.now(), people, (same(3), same(3)), name="Zed Later")
    other = replace(people, screen=await make_screen(db, clock.now(), title="Other screen"))
    await db.commit()
    await decided(db, settings, clock.now(), other, (same(4), same(4)), name="Ola Other")
    screens = {
        screen_id
        for (screen_id,) in await db.execute(select(Decision.screen_id).order_by(Decision.id))
    }

    def names(html: str) -> list[str]:
        return re.findall(r'<th scope="row"><a href="/reports/\d+">([^<]+)</a>', html)

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        mine = await client.get(f"/reports/screens/{people.screen.id}")
        theirs = await client.get(f"/reports/screens/{other.screen.id}")

    assert screens == {people.screen.id, other.screen.id}
    assert names(mine.text) == ["Zed Later", "Mo Mine"]
    assert names(theirs.text) == ["Ola Other"]


async def test_a_bulk_outcome_is_confirmed_then_recorded_for_each(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    one = await decided(db, settings, clock.now(), people, (same(4), same(4)), name="Pia One")
    two = await decided(db, settings, clock.now(), people, (same(3), same(4)), name="Pat Two")
    three = await decided(db, settings, clock.now(), people, (same(1), same(1)), name="Fay Three")
    await assign_hiring_manager(
        db, people.screen, people.manager.email, actor="test", now=clock.now()
    )
    await db.commit()
    base = f"/reports/screens/{people.screen.id}"
    picked = {"invitation": [str(one.invitation_id), str(two.invitation_id)], "action": "advance"}

    async with client_for(app) as client:
        await sign_in(client, people.manager.email)
        await client.get(base)
        confirm = await post_form(client, f"{base}/outcomes", picked)
        assert confirm.status_code == 200
        assert "Pia One" in confirm.text and "Pat Two" in confirm.text
        assert "Fay Three" not in confirm.text
        assert await db.scalar(select(CandidateOutcome)) is None
        applied = await post_form(
            client, f"{base}/outcomes", {**picked, "confirm": "1"}, follow_redirects=False
        )
        assert applied.status_code == 303
        assert applied.headers["location"] == f"{base}?applied=2"
        table = await client.get(applied.headers["location"])
        nothing = await post_form(client, f"{base}/outcomes", {"action": "advance"})

    assert "Recorded for 2 candidates" in table.text
    assert nothing.status_code == 400
    await db.rollback()
    recorded = {(o.invitation_id, o.outcome) for o in await db.scalars(select(CandidateOutcome))}
    assert recorded == {(one.invitation_id, "advanced"), (two.invitation_id, "advanced")}
    assert three.invitation_id not in {i for i, _ in recorded}


async def test_a_bulk_outcome_refuses_a_candidate_of_another_screen(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    mine = await decided(db, settings, clock.now(), people, (same(4), same(4)), name="Pat Mine")
    elsewhere = await make_screen(db, clock.now(), title="Elsewhere")
    await db.commit()
    theirs = await make_submitted(db, settings, clock.now(), screen=elsewhere, name="Not Mine")
    base = f"/reports/screens/{people.screen.id}"

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        await client.get(base)
        response = await post_form(
            client,
            f"{base}/outcomes",
            {
                "invitation": [str(mine.invitation_id), str(theirs.invitation_id)],
                "action": "reject",
                "confirm": "1",
            },
        )

    assert response.status_code == 404
    await db.rollback()
    assert await db.scalar(select(CandidateOutcome)) is None


async def test_a_hostile_name_and_answer_render_inert(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    hostile = await decided(
        db,
        settings,
        clock.now(),
        people,
        (same(4), same(4)),
        name=f"Eve {XSS}",
        answer=f"Answer {XSS} <img src=x onerror=alert(2)>",
        probes=(f"Probe {XSS}", None),
    )

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        await client.get("/recruiter")
        created = await post_form(client, f"/reports/{hostile.invitation_id}/shares", {})
        match = SHARE_LINK.search(created.text)
        assert match
        pages = [
            (await client.get(f"/reports/{hostile.invitation_id}")).text,
            (await client.get(f"/reports/screens/{people.screen.id}")).text,
            (await client.get(f"/shared/{match.group(1)}")).text,
            created.text,
        ]

    for page in pages:
        assert XSS not in page
        assert "<img src=x" not in page
        assert "Eve &lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_recruiters_assign_and_unassign_hiring_managers_on_the_screen_page(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    passed = await decided(db, settings, clock.now(), people, (same(4), same(4)), name="Pat Pass")
    dashboard = f"/recruiter/screens/{people.screen.id}"

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        page = await client.get(dashboard)
        assert f'href="/reports/screens/{people.screen.id}"' in page.text
        invitation = await client.get(f"/recruiter/invitations/{passed.invitation_id}")
        assert f'href="/reports/{passed.invitation_id}"' in invitation.text
        wrong = await post_form(
            client, f"{dashboard}/hiring-managers", {"email": people.first.email}
        )
        assert wrong.status_code == 400
        # The same page, the email kept and the reason beside the field.
        assert 'id="email-problem">No active hiring manager account' in wrong.text
        assert f'value="{people.first.email}"' in wrong.text
        assert "Hana Manager" not in wrong.text.split('id="hm-title"')[1]
        assigned = await post_form(
            client,
            f"{dashboard}/hiring-managers",
            {"email": "HM@staff.example"},
            follow_redirects=False,
        )
        assert assigned.status_code == 303
        listed = (await client.get(dashboard)).text
        assert "Hana Manager" in listed
        assert f"/hiring-managers/{people.manager.id}/remove" in listed

    async with client_for(app) as manager:
        await sign_in(manager, people.manager.email)
        assert (await manager.get(f"/reports/{passed.invitation_id}")).status_code == 200

    async with client_for(app) as client:
        await sign_in(client, people.recruiter.email)
        await client.get(dashboard)
        removed = await post_form(
            client,
            f"{dashboard}/hiring-managers/{people.manager.id}/remove",
            follow_redirects=False,
        )
        assert removed.status_code == 303

    async with client_for(app) as manager:
        await sign_in(manager, people.manager.email)
        assert (await manager.get(f"/reports/{passed.invitation_id}")).status_code == 404


async def test_the_pdf_carries_the_report_as_text_and_is_audited(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    passed = await decided(
        db,
        settings,
        clock.now(),
        people,
        (same(4), same(3)),
        name="Pat Pass",
        answer="We pick pgvector with HNSW for the p95 budget.",
    )
    await assign_hiring_manager(
        db, people.screen, people.manager.email, actor="test", now=clock.now()
    )
    await db.commit()

    async with client_for(app) as client:
        await sign_in(client, people.manager.email)
        dotted = await client.get(f"/reports/{passed.invitation_id}.pdf")
        slashed = await client.get(f"/reports/{passed.invitation_id}/pdf")
        page = await client.get(f"/reports/{passed.invitation_id}")
        unknown = await client.get("/reports/99999.pdf")
        junk = await client.get("/reports/abc.pdf")

    assert dotted.status_code == 200
    assert dotted.headers["content-type"] == "application/pdf"
    assert dotted.headers["cache-control"] == "no-store"
    assert slashed.content[:5] == b"%PDF-"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(dotted.content)).pages)
    assert "Pat Pass" in text
    assert "pgvector" in text
    assert "3.5" in text
    assert f'href="/reports/{passed.invitation_id}.pdf"' in page.text
    assert unknown.status_code == 404
    assert junk.status_code == 404
    events = await views(db, passed.invitation_id)
    assert [e.after for e in events] == [{"as": "pdf"}, {"as": "pdf"}, {"as": "page"}]


async def test_a_lead_reads_a_report_only_once_its_decision_is_final(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    """Leads score and adjudicate: until the decision is final the answer may reach them
    blind, so its report (the name, the email) must not exist for them."""
    people = await cast(db, clock.now())
    waiting = await make_submitted(
        db, settings, clock.now(), screen=people.screen, name="Noor Blind", email="noor@ex.com"
    )

    async with client_for(app) as client:
        await sign_in(client, people.lead.email)
        before = await client.get(f"/reports/{waiting.invitation_id}")
        before_pdf = await client.get(f"/reports/{waiting.invitation_id}.pdf")
        await score(db, people.first, same(3), clock.now())
        await score(db, people.second, same(3), clock.now())
        after = await client.get(f"/reports/{waiting.invitation_id}")

    assert before.status_code == 404 and before_pdf.status_code == 404
    assert "Noor Blind" not in before.text and "noor@ex.com" not in before.text
    assert after.status_code == 200
    assert "Noor Blind" in after.text
