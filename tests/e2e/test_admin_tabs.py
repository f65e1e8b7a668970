"""The admin's pages in Chromium: every tab is on screen at 390 and 1280 px (they wrap
rather than hide behind a sideways scroll a phone does not show), photographed at both
widths, with axe-core; and a refused waiver on the model rater page comes back as that
page with the reason as typed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from playwright.async_api import Page, ViewportSize, expect
from sqlalchemy import select

from screen.platform.models import ModelRating
from screen.settings import Settings
from tests.e2e.harness import SCREENSHOTS, AppServer, check_axe, sign_in, snap
from tests.support.factories import make_screen, make_submitted, make_user
from tests.support.model_server import ChatPeer, rating

WIDTHS: dict[int, ViewportSize] = {
    1280: {"width": 1280, "height": 800},
    390: {"width": 390, "height": 844},
}
TABS = (
    "Webhooks",
    "API keys",
    "Chat notifications",
    "Organisation",
    "Privacy",
    "Model rater",
    "Outbox",
)


async def test_every_admin_tab_is_on_screen_at_phone_and_desktop_width(
    app_server: AppServer, page: Page
) -> None:
    async with app_server.db() as db:
        admin = await make_user(db, app_server.now(), "admin", email="tab.admin@staff.example")
        await db.commit()
    await sign_in(page, admin.email)
    for path, name in (("/admin/model-rater", "model-rater"), ("/admin/outbox", "outbox")):
        await page.goto(path)
        tabs = page.get_by_role("navigation", name="Integrations")
        for width, viewport in WIDTHS.items():
            await page.set_viewport_size(viewport)
            for label in TABS:
                tab = tabs.get_by_role("link", name=label, exact=True)
                await expect(tab).to_be_visible()
                box = await tab.bounding_box()
                assert box is not None
                # Wholly inside the viewport; below, none scrolled out of the nav.
                assert box["x"] >= 0 and box["x"] + box["width"] <= width, (path, width, label)
            hidden = await tabs.evaluate("(nav) => nav.scrollWidth - nav.clientWidth")
            assert hidden <= 0, f"{path} at {width}px: {hidden}px of tabs scrolled away"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=SCREENSHOTS / f"admin-tabs-{name}-{width}.png")
        await page.set_viewport_size(WIDTHS[1280])
        await snap(page, f"admin-tabs-{name}")
        await check_axe(page, f"admin tabs {name}")


async def test_a_refused_waiver_keeps_the_page_and_the_typed_reason_in_the_browser(
    start_server: Callable[..., AppServer],
    new_page: Callable[[AppServer], Awaitable[Page]],
) -> None:
    async with ChatPeer(default=rating(3)) as peer:
        server = start_server(SCREEN_MODEL_URL=peer.url, SCREEN_MODEL_NAME="peer-7b")
        async with server.db() as db:
            screen = await make_screen(db, server.now(), calibration_threshold=None)
            settings = Settings(database_url=server.database_url, secret_key="x" * 32)
            await make_submitted(db, settings, server.now(), screen=screen, email="c@example.com")
            admin = await make_user(db, server.now(), "admin", email="waive.admin@staff.example")
            await db.commit()
        for _ in range(300):
            async with server.db() as db:
                rated = await db.scalar(
                    select(ModelRating.id).where(ModelRating.attempt_id.is_not(None))
                )
            if rated:
                break
            await asyncio.sleep(0.1)
        assert rated, server.log_tail()

        page = await new_page(server)
        await sign_in(page, admin.email)
        await page.goto("/admin/model-rater")
        reason = page.get_by_label("Reason for waiving the validity rule")
        # Ten characters for the browser, three once the spaces are folded.
        await reason.fill("a    b    c")
        await page.get_by_role("button", name="Waive the rule for this model").click()
        await expect(page.get_by_role("alert")).to_contain_text(
            "Give a reason of 10 to 1000 characters."
        )
        await expect(page.get_by_label("Reason for waiving the validity rule")).to_have_value(
            "a    b    c"
        )
        await expect(page.get_by_role("navigation", name="Integrations")).to_be_visible()
        # Scrolled to the refused card, its heading clear of the sticky header.
        for width, viewport in WIDTHS.items():
            await page.set_viewport_size(viewport)
            await page.evaluate("() => location.hash = '#model-row-1'")
            await page.evaluate("() => document.getElementById('model-row-1').scrollIntoView()")
            header = await page.locator(".site-header").bounding_box()
            heading = await page.locator("#model-row-1").bounding_box()
            assert header is not None and heading is not None
            assert heading["y"] >= header["y"] + header["height"], width
            await page.screenshot(path=SCREENSHOTS / f"model-rater-waiver-refused-{width}.png")
        await page.set_viewport_size(WIDTHS[1280])
        await snap(page, "model-rater-waiver-refused")
        await check_axe(page, "model rater waiver refused")
