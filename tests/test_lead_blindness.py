"""Blind review holds for leads (issue 15, finding 3): a lead holding an unsubmitted slot
of an attempt sees no other review of it, and a lead who reviewed an attempt does not
adjudicate it while another active lead could."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import Attempt, AuditEvent, Decision, Invitation, User
from screen.settings import Settings
from tests.support.factories import make_submitted, make_user
from tests.support.reports import cast, same, score
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
OTHER_EVIDENCE = "Ada-only evidence: the cost table on line 3 is off by 10x."


async def attempt_id(db: AsyncSession) -> int:
    found: int | None = await db.scalar(select(Attempt.id))
    assert found is not None
    return found


def new_client(app: Litestar) -> Client:
    """One browser, served by its own copy of the app."""
    return AsyncTestClient(app=app.state.make_app(), base_url="http://testserver.local")


async def review_next(client: Client) -> str:
    response = await post_form(client, "/review/next", follow_redirects=False)
    assert response.status_code == 303
    location: str = response.headers["location"]
    return location


def scores(level: int, recommendation: str) -> dict[str, str]:
    form = {f"level.{key}": str(level) for key in KEYS}
    form.update({f"evidence.{key}": "The lead's own evidence, from the answer." for key in KEYS})
    form["recommendation"] = recommendation
    return form


def shows_other_review(page: str) -> bool:
    return OTHER_EVIDENCE in page or "Strong yes" in page


async def test_a_lead_holding_a_slot_sees_no_other_review_until_they_submit_or_decline(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    await make_submitted(db, settings, clock.now(), screen=people.screen)
    await score(
        db, people.first, same(4), clock.now(), recommendation="strong_yes", evidence=OTHER_EVIDENCE
    )
    submission = await attempt_id(db)

    async with new_client(app) as lead:
        await sign_in(lead, people.lead.email)
        own = await review_next(lead)  # the lead claims the second slot
        while_claimed = await lead.get(f"/lead/attempts/{submission}")
        declined = await post_form(
            lead, f"{own}/decline", {"reason": "I know this candidate."}, follow_redirects=False
        )
        after_decline = await lead.get(f"/lead/attempts/{submission}")

    assert while_claimed.status_code == 200
    assert not shows_other_review(while_claimed.text)
    assert "The other reviews stay hidden until you submit your own review" in while_claimed.text
    assert f'href="{own}"' in while_claimed.text
    assert declined.status_code == 303
    assert shows_other_review(after_decline.text)


async def test_a_lead_whose_review_was_reopened_sees_no_other_review_until_resubmitted(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    other_lead = await make_user(db, clock.now(), "lead", email="max@staff.example", name="Max")
    await make_submitted(db, settings, clock.now(), screen=people.screen)
    await score(
        db, people.first, same(4), clock.now(), recommendation="strong_yes", evidence=OTHER_EVIDENCE
    )
    submission = await attempt_id(db)

    async with new_client(app) as lead, new_client(app) as other:
        await sign_in(lead, people.lead.email)
        await sign_in(other, other_lead.email)
        own = await review_next(lead)
        await post_form(lead, own, {**scores(2, "no"), "action": "submit"})
        after_submit = await lead.get(f"/lead/attempts/{submission}")
        review_id = int(own.rsplit("/", 1)[1])
        reopened = await post_form(
            other,
            f"/lead/reviews/{review_id}/reopen",
            {"reason": "Please look at the cost arithmetic again."},
            follow_redirects=False,
        )
        while_reopened = await lead.get(f"/lead/attempts/{submission}")
        await post_form(lead, own, {**scores(3, "yes"), "action": "submit"})
        resubmitted = await lead.get(f"/lead/attempts/{submission}")

    assert shows_other_review(after_submit.text)
    assert reopened.status_code == 303
    assert not shows_other_review(while_reopened.text)
    assert "reopened for you" in while_reopened.text
    assert shows_other_review(resubmitted.text)


async def test_a_lead_who_reviewed_does_not_adjudicate_while_another_lead_can(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    other_lead = await make_user(
        db, clock.now(), "lead", email="max@staff.example", name="Max Other"
    )
    await make_submitted(db, settings, clock.now(), screen=people.screen)
    await score(db, people.first, same(4), clock.now(), recommendation="strong_yes")
    await score(db, people.lead, same(2), clock.now(), recommendation="no")
    submission = await attempt_id(db)
    reason = {"outcome": "fail", "reason": "My own low scores stand, as I see it."}

    async with new_client(app) as lead, new_client(app) as other:
        await sign_in(lead, people.lead.email)
        await sign_in(other, other_lead.email)
        page = await lead.get(f"/lead/attempts/{submission}")
        refused = await post_form(lead, f"/lead/attempts/{submission}/adjudicate", reason)
        other_page = await other.get(f"/lead/attempts/{submission}")
        decided = await post_form(
            other,
            f"/lead/attempts/{submission}/adjudicate",
            {"outcome": "pass", "reason": "The 4s are backed by the cost arithmetic."},
            follow_redirects=False,
        )

    assert "another lead decides it" in page.text and "Max Other" in page.text
    assert 'action="/lead/attempts/' + str(submission) + '/adjudicate"' not in page.text
    assert refused.status_code == 403
    assert "Max Other (max@staff.example)" in refused.text
    assert "/adjudicate" in other_page.text
    assert decided.status_code == 303
    decision = await db.scalar(select(Decision).execution_options(populate_existing=True))
    assert decision is not None
    assert (decision.outcome, decision.adjudicated_by_id) == ("pass", other_lead.id)
    adjudications = list(
        await db.scalars(select(AuditEvent).where(AuditEvent.action == "decision.adjudicated"))
    )
    assert len(adjudications) == 1 and "max@staff.example" in adjudications[0].actor


async def test_the_only_active_lead_may_adjudicate_what_they_reviewed(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    gone = await make_user(db, clock.now(), "lead", email="gone@staff.example", name="Gone")
    await db.execute(update(User).where(User.id == gone.id).values(disabled_at=clock.now()))
    await db.commit()
    await make_submitted(db, settings, clock.now(), screen=people.screen)
    await score(db, people.first, same(4), clock.now(), recommendation="strong_yes")
    await score(db, people.lead, same(2), clock.now(), recommendation="no")
    submission = await attempt_id(db)

    async with new_client(app) as lead:
        await sign_in(lead, people.lead.email)
        page = await lead.get(f"/lead/attempts/{submission}")
        decided = await post_form(
            lead,
            f"/lead/attempts/{submission}/adjudicate",
            {"outcome": "fail", "reason": "No other lead is active to decide this."},
            follow_redirects=False,
        )

    assert "every active lead reviewed it" in page.text
    assert decided.status_code == 303
    decision = await db.scalar(select(Decision).execution_options(populate_existing=True))
    assert decision is not None
    assert (decision.outcome, decision.adjudicated_by_id) == ("fail", people.lead.id)


async def test_an_admin_may_decide_a_dispute_in_place_of_a_lead_with_a_reason_audited(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    """Issue 15, finding 3's last clause: an admin may override who adjudicates, with a
    reason; without one nothing changes; the audit log keeps the reason."""
    people = await cast(db, clock.now())
    await make_user(db, clock.now(), "lead", email="max@staff.example", name="Max Other")
    admin = await make_user(db, clock.now(), "admin", email="root@staff.example", name="Ann Admin")
    await make_submitted(db, settings, clock.now(), screen=people.screen)
    await score(db, people.first, same(4), clock.now(), recommendation="strong_yes")
    await score(db, people.lead, same(2), clock.now(), recommendation="no")
    submission = await attempt_id(db)
    adjudicate = f"/lead/attempts/{submission}/adjudicate"
    decide = {"outcome": "pass", "reason": "The 4s are backed by the cost arithmetic."}
    why = "Max is on leave for three weeks and the SLA is today."

    async with new_client(app) as lead, new_client(app) as root:
        await sign_in(lead, people.lead.email)
        await sign_in(root, admin.email)
        invitation = await db.scalar(select(Invitation.id))
        recruiter_page = await root.get(f"/recruiter/invitations/{invitation}")
        lead_page = await lead.get(f"/lead/attempts/{submission}")
        page = await root.get(f"/lead/attempts/{submission}")
        refused = {
            "missing": await post_form(root, adjudicate, decide),
            "blank": await post_form(root, adjudicate, {**decide, "override_reason": "   \n  "}),
            "short": await post_form(root, adjudicate, {**decide, "override_reason": "leave"}),
        }
        unchanged = await db.scalar(select(Decision).execution_options(populate_existing=True))
        audited_before = list(
            await db.scalars(select(AuditEvent).where(AuditEvent.action == "decision.adjudicated"))
        )
        decided = await post_form(
            root, adjudicate, {**decide, "override_reason": why}, follow_redirects=False
        )
        after = await root.get(f"/lead/attempts/{submission}")
        report = await root.get(f"/reports/{invitation}")

    assert f'<a href="/lead/attempts/{submission}">Open the dispute</a>' in recruiter_page.text
    assert "An admin may decide it instead, giving a reason." in lead_page.text
    assert page.status_code == 200
    assert "Leads who may decide this: Max Other (max@staff.example)." in page.text
    assert 'name="override_reason"' in page.text
    assert "/lead/reviews/" not in page.text  # reopening stays with leads
    for name, response in refused.items():
        assert response.status_code == 400, name
        assert "As an admin you decide in place of a lead: say why" in response.text, name
    assert unchanged is not None
    assert (unchanged.outcome, unchanged.adjudicated_by_id) == ("needs_adjudication", None)
    assert audited_before == []

    assert decided.status_code == 303
    decision = await db.scalar(select(Decision).execution_options(populate_existing=True))
    assert decision is not None
    assert (decision.outcome, decision.adjudicated_by_id) == ("pass", admin.id)
    assert decision.final_explanation.startswith(
        "pass: adjudicated by an admin (The 4s are backed by the cost arithmetic.)"
    )
    assert "adjudicated by an admin" in after.text
    assert "Ann Admin" in report.text and "Admin's reason" in report.text
    [event] = await db.scalars(
        select(AuditEvent).where(AuditEvent.action == "decision.adjudicated")
    )
    assert "root@staff.example" in event.actor
    assert event.after == {
        "outcome": "pass",
        "reason": "The 4s are backed by the cost arithmetic.",
        "admin_override": {"reason": why, "leads_who_may": "Max Other (max@staff.example)"},
    }
    attempt = await db.scalar(select(Attempt).execution_options(populate_existing=True))
    assert attempt is not None and attempt.state == "passed"


async def test_an_admin_page_says_who_may_decide_when_every_lead_reviewed_it(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    people = await cast(db, clock.now())
    admin = await make_user(db, clock.now(), "admin")
    await make_submitted(db, settings, clock.now(), screen=people.screen)
    await score(db, people.first, same(4), clock.now(), recommendation="strong_yes")
    await score(db, people.lead, same(2), clock.now(), recommendation="no")
    submission = await attempt_id(db)

    async with new_client(app) as root:
        await sign_in(root, admin.email)
        page = await root.get(f"/lead/attempts/{submission}")

    assert (
        "Leads who may decide this: any active lead, as every one of them reviewed it: "
        "Lee Lead (lee@staff.example)." in page.text
    )
