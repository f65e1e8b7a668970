"""The admin's model rater page when a waiver of the validity rule is refused: the page
comes back with its navigation, the problem shown in the card whose form was sent (or
above the cards when no card offers that pair) and the typed reason kept, with a 4xx."""

from __future__ import annotations

import html

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import AuditEvent, ModelValidityWaiver
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user
from tests.support.model_server import ChatPeer, rating
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
RATER = "model: peer-7b"


async def rated_once(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    async with ChatPeer(default=rating(3)) as peer:
        assert runner.context is not None
        runner.context.settings = settings.with_overrides(model_url=peer.url, model_name="peer-7b")
        screen = await make_screen(db, clock.now(), calibration_threshold=None)
        await make_submitted(db, settings, clock.now(), screen=screen, email="c@example.com")
        for _ in range(3):
            await runner.tick()
            await runner.drain()


async def test_a_refused_waiver_comes_back_on_the_page_with_the_reason_kept(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    client: Client,
) -> None:
    await rated_once(runner, settings, db, clock)
    admin = await make_user(db, clock.now(), "admin", email="admin@staff.example")
    await sign_in(client, admin.email)
    await client.get("/admin/model-rater")
    pair = {"rater": RATER, "prompt": "sample-decision"}

    # Spaces pass the browser's minlength; one line of them is too short a reason.
    short = await post_form(client, "/admin/model-rater/waive", {**pair, "reason": "a    b    <c>"})
    assert short.status_code == 400
    page = short.text
    # The page itself, with its tabs, not a bare error page.
    assert 'aria-label="Integrations"' in page and "Model rater" in page
    assert "Nothing was changed. Please fix:" in page
    assert '<a href="#reason">Give a reason of 10 to 1000 characters.</a>' in page
    assert 'id="reason" name="reason"' in page and 'aria-invalid="true"' in page
    assert ">a    b    &lt;c&gt;</textarea>" in page  # as typed, escaped

    long = await post_form(client, "/admin/model-rater/waive", {**pair, "reason": "y" * 1001})
    assert long.status_code == 400
    assert "Give a reason of 10 to 1000 characters." in long.text
    assert f">{'y' * 1001}</textarea>" in long.text

    reason = "Pilot: trial the check on this prompt"
    for forged in ({**pair, "rater": "model: never-seen"}, {**pair, "prompt": "no-such"}, {}):
        refused = await post_form(client, "/admin/model-rater/waive", {**forged, "reason": reason})
        assert refused.status_code == 400, refused.text[:300]
        text = html.unescape(refused.text)
        assert 'aria-label="Integrations"' in text
        assert "Nothing was changed. Please fix:" in text
        assert (
            "That model has rated nothing of that prompt: waive from one of the cards on this page."
            in text
            or "Choose the model and prompt from a card on this page." in text
        )
        # No card was sent, so none is marked and none keeps the reason.
        assert 'aria-invalid="true"' not in text and f">{reason}</textarea>" not in text

    assert await db.scalar(select(func.count(ModelValidityWaiver.id))) == 0
    audited = select(func.count(AuditEvent.id)).where(AuditEvent.action == "model_validity.waived")
    assert await db.scalar(audited) == 0

    done = await post_form(
        client, "/admin/model-rater/waive", {**pair, "reason": reason}, follow_redirects=True
    )
    assert done.status_code == 200
    assert "The rule is waived for that model on that prompt." in done.text
    assert f"Reason: {reason}" in done.text
