"""The calibration gate: uncalibrated reviewers get no live answers of a prompt until they
score its expert-scored exemplars closely enough, or a lead waives it."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import AuditEvent, CalibrationAttempt, Decision, Review
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")


def levels(*values: int) -> dict[str, str]:
    return {f"level.{key}": str(value) for key, value in zip(KEYS, values, strict=True)}


async def gated_setup(db: AsyncSession, settings: Settings, clock: FrozenClock) -> None:
    screen = await make_screen(db, clock.now(), calibration_threshold=0.8)
    await make_submitted(db, settings, clock.now(), screen=screen)


async def test_an_uncalibrated_reviewer_calibrates_then_gets_live_answers(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    await gated_setup(db, settings, clock)
    reviewer = await make_user(db, clock.now(), "reviewer")
    await sign_in(client, reviewer.email)

    blocked = await post_form(client, "/review/next", follow_redirects=False)
    queue = await client.get("/review?empty=1")
    page = await client.get("/review/calibration/sample-decision")
    # The strong exemplar's experts gave 4, 3, 3, 3.
    result = await post_form(
        client, "/review/calibration/sample-decision/strong", levels(4, 3, 2, 3)
    )
    again = await post_form(
        client, "/review/calibration/sample-decision/strong", levels(4, 3, 3, 3)
    )
    live = await post_form(client, "/review/next", follow_redirects=False)

    assert blocked.headers["location"] == "/review?empty=1"
    assert "Calibrate on sample-decision" in queue.text
    assert "not a candidate" in page.text
    assert "pgvector with HNSW" in page.text  # the exemplar's answer
    assert "4 of 4 dimensions within one level" in result.text
    assert "Computes memory and cost for each option" in result.text  # the experts' reason
    assert again.status_code == 409
    assert live.headers["location"].startswith("/review/")
    assert live.headers["location"] != "/review?empty=1"
    assert await db.scalar(select(func.count()).select_from(CalibrationAttempt)) == 1
    assert await db.scalar(select(func.count()).select_from(Decision)) == 0


async def test_far_off_scores_show_the_experts_and_allow_another_example(
    client: Client, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    await gated_setup(db, settings, clock)
    reviewer = await make_user(db, clock.now(), "reviewer")
    await sign_in(client, reviewer.email)

    miss = await post_form(client, "/review/calibration/sample-decision/strong", levels(1, 1, 1, 1))
    still_blocked = await post_form(client, "/review/next", follow_redirects=False)
    next_page = await client.get("/review/calibration/sample-decision")
    # The weak exemplar's experts gave 1, 1, 1, 2.
    hit = await post_form(client, "/review/calibration/sample-decision/weak", levels(1, 2, 1, 2))
    unlocked = await post_form(client, "/review/next", follow_redirects=False)
    incomplete = await post_form(
        client,
        "/review/calibration/sample-decision/weak",
        levels(1, 1, 1, 1) | {"level.first_week": ""},
    )

    assert "0 of 4 dimensions within one level" in miss.text
    assert "Not calibrated yet" in miss.text
    assert still_blocked.headers["location"] == "/review?empty=1"
    assert "I would use Pinecone" in next_page.text  # the other exemplar is offered
    assert "4 of 4 dimensions" in hit.text
    assert unlocked.headers["location"] != "/review?empty=1"
    assert incomplete.status_code in (400, 409)


async def test_a_lead_can_waive_calibration_with_a_reason(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    await gated_setup(db, settings, clock)
    reviewer = await make_user(
        db, clock.now(), "reviewer", email="rev@staff.example", name="Rev Iewer"
    )
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as lead_client:
        await sign_in(lead_client, lead.email)
        form_page = await lead_client.get("/lead/calibration")
        short = await post_form(
            lead_client,
            "/lead/calibration/waive",
            {"reviewer": str(reviewer.id), "prompt": "sample-decision", "reason": "ok"},
        )
        waived = await post_form(
            lead_client,
            "/lead/calibration/waive",
            {
                "reviewer": str(reviewer.id),
                "prompt": "sample-decision",
                "reason": "Calibrated on the same rubric last quarter.",
            },
            follow_redirects=False,
        )
        confirmed = await lead_client.get(waived.headers["location"])
        made_up = await lead_client.get(
            "/lead/calibration?waived=<b>anyone</b>&prompt=sample-decision"
        )
        own = await post_form(
            lead_client,
            "/lead/calibration/waive",
            {
                "reviewer": str(lead.id),
                "prompt": "sample-decision",
                "reason": "I trust myself enough.",
            },
        )
    async with AsyncTestClient(
        app=app.state.make_app(), base_url="http://testserver.local"
    ) as client:
        await sign_in(client, reviewer.email)
        live = await post_form(client, "/review/next", follow_redirects=False)

    # The lead finds the form on its own page, with reviewers and prompts to pick from.
    assert 'action="/lead/calibration/waive"' in form_page.text
    assert f'<option value="{reviewer.id}">Rev Iewer (rev@staff.example)</option>' in form_page.text
    assert f'<option value="{lead.id}">' not in form_page.text  # never oneself
    assert '<option value="sample-decision">' in form_page.text
    assert short.status_code == 400
    assert waived.status_code == 303
    title = "Pick a vector store for a 2M-document search feature"
    assert f"Calibration waived for Rev Iewer on {title}." in confirmed.text
    assert "Calibration waived for" not in made_up.text  # only what the database holds
    assert own.status_code == 400
    assert "cannot waive their own calibration" in own.text
    assert live.headers["location"] != "/review?empty=1"
    [event] = list(
        await db.scalars(select(AuditEvent).where(AuditEvent.action == "calibration.waived"))
    )
    assert event.after == {
        "prompt": "sample-decision",
        "reason": "Calibrated on the same rubric last quarter.",
    }
    assert (
        await db.scalar(
            select(func.count()).select_from(Review).where(Review.reviewer_id == reviewer.id)
        )
        == 1
    )
