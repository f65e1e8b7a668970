"""The admin's privacy page in a real browser, with candidates due for erasure under a long
screen title: it fits a 390 px phone without sideways scrolling, and 1280 px too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from playwright.async_api import Page, ViewportSize, expect
from sqlalchemy import update

from screen.platform.models import Attempt, AttemptState
from tests.e2e.harness import SCREENSHOTS, AppServer, check_axe, sign_in
from tests.support.factories import make_screen, make_submitted, make_user

SIZES: tuple[ViewportSize, ...] = ({"width": 1280, "height": 800}, {"width": 390, "height": 844})
TITLE = "Senior machine-learning platform engineer, retrieval and evaluation, EMEA autumn"


async def test_the_privacy_page_fits_a_phone(
    start_server: Callable[..., AppServer], new_page: Callable[[AppServer], Awaitable[Page]]
) -> None:
    server = start_server()
    async with server.db() as db:
        now = server.now()
        admin = await make_user(db, now, "admin", email="privacy-admin@example.org")
        screen = await make_screen(db, now, title=TITLE)
        ids = []
        for i in range(3):
            candidate = await make_submitted(
                db,
                server.settings,
                now,
                screen=screen,
                name=f"Old {i}",
                email=f"old{i}@example.com",
            )
            ids.append(candidate.invitation.attempt.id)
        # Ended three years ago: due under any policy.
        await db.execute(
            update(Attempt)
            .where(Attempt.id.in_(ids))
            .values(state=AttemptState.WITHDRAWN, state_changed_at=now - timedelta(days=1100))
        )
        await db.commit()
        email = admin.email

    page = await new_page(server)
    page.set_default_timeout(30_000)
    await sign_in(page, email)
    await page.goto("/admin/privacy")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Privacy and retention")
    await expect(page.get_by_role("region", name="What the next run would erase")).to_contain_text(
        TITLE
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        await page.set_viewport_size(size)
        await page.screenshot(
            path=SCREENSHOTS / f"admin-privacy-{size['width']}.png", full_page=True
        )
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{overflow}px of sideways scrolling at {size['width']}px"
    await check_axe(page, "admin privacy page")
