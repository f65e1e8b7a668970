"""The admin's tabs in Chromium: every tab is on screen at 390 and 1280 px (they wrap
rather than hide behind a sideways scroll a phone does not show), photographed at both
widths, with axe-core."""

from __future__ import annotations

from playwright.async_api import Page, ViewportSize, expect

from tests.e2e.harness import SCREENSHOTS, AppServer, check_axe, sign_in, snap
from tests.support.factories import make_user

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
