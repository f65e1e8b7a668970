"""The notification settings in a real browser: a reviewer's own page (a refused time zone
kept with the reason beside it, then saved), and the admin's chat URLs (a disguised
address refused in place, a public one saved), under axe with no violation of any impact
at 1280 and 390 px, with screenshots at both widths."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.e2e.harness import SCREENSHOTS, AppServer, check_axe, sign_in
from tests.support.factories import make_screen, make_user

PHONE_390 = {"width": 390, "height": 844}
DESKTOP_1280 = {"width": 1280, "height": 800}


async def snap_both(page: Page, name: str) -> None:
    """Screenshots at 1280 and 390 px, and no sideways scrolling at 390."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.set_viewport_size(DESKTOP_1280)  # type: ignore[arg-type]
    await page.screenshot(path=SCREENSHOTS / f"{name}-1280.png", full_page=True)
    await page.set_viewport_size(PHONE_390)  # type: ignore[arg-type]
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    await page.screenshot(path=SCREENSHOTS / f"{name}-390.png", full_page=True)
    await page.set_viewport_size(DESKTOP_1280)  # type: ignore[arg-type]
    assert overflow <= 0, f"{name}: {overflow}px wider than a 390px screen"


async def axe_clean(page: Page, name: str) -> None:
    """No axe violation of any impact at 1280 and at 390 px (and the harness's 360)."""
    for width, viewport in (("1280", DESKTOP_1280), ("390", PHONE_390)):
        await page.set_viewport_size(viewport)  # type: ignore[arg-type]
        found = await check_axe(page, f"{name} at {width}")
        assert not any(found.values()), f"axe on {name} at {width} px: {found}"
    await page.set_viewport_size(DESKTOP_1280)  # type: ignore[arg-type]


async def test_a_lead_sets_their_time_zone_and_what_they_receive(
    app_server: AppServer, page: Page
) -> None:
    async with app_server.db() as db:
        lead = await make_user(
            db, app_server.now(), "lead", email="nell.notify@staff.example", name="Nell Notify"
        )

    await sign_in(page, lead.email)
    await page.get_by_role("link", name="Notifications").click()
    await expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    await expect(page.get_by_label("Daily digest")).to_be_checked()
    await expect(page.get_by_label("Lead's list")).to_be_checked()

    zone = page.get_by_label("Your time zone")
    await zone.fill("Europe/Berlinn")
    await page.get_by_label("Daily digest").uncheck()
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("alert")).to_contain_text("is not a time zone Screen knows")
    await expect(zone).to_have_value("Europe/Berlinn")
    await expect(zone).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Daily digest")).not_to_be_checked()
    await snap_both(page, "notifications-settings-refused")
    await axe_clean(page, "notification settings, refused")

    await zone.fill("Europe/Berlin")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved.")
    await expect(zone).to_have_value("Europe/Berlin")
    await expect(page.get_by_label("Daily digest")).not_to_be_checked()
    await expect(page.get_by_label("Deadline nudge")).to_be_checked()
    await snap_both(page, "notifications-settings-saved")
    await axe_clean(page, "notification settings, saved")


async def test_an_admin_gives_a_screen_a_chat_url_and_a_disguised_one_is_refused(
    app_server: AppServer, page: Page
) -> None:
    async with app_server.db() as db:
        now = app_server.now()
        admin = await make_user(db, now, "admin", email="ari.chat@staff.example", name="Ari")
        screen = await make_screen(db, now, title="Data engineer, chat channel")
        await make_screen(db, now, title="Platform engineer, no channel")
        await db.commit()

    await sign_in(page, admin.email)
    await page.goto("/admin/notifications")
    await expect(page.get_by_role("heading", name="Chat notifications per screen")).to_be_visible()
    field = page.locator(f"#url-{screen.id}")
    save = page.locator(f"#url-{screen.id} ~ .actions").get_by_role("button", name="Save URL")
    # The session's server allows private targets (its webhook receivers listen on
    # 127.0.0.1); a disguised address is refused even so. Private ones are refused in
    # tests/test_notifications.py.
    await field.fill("http://2130706433/hooks/screen")
    await save.click()
    await expect(page.locator(f"#url-{screen.id}-problem")).to_contain_text(
        "an IPv4 address in a disguised form"
    )
    await expect(field).to_have_value("http://2130706433/hooks/screen")
    await snap_both(page, "notifications-admin-refused")
    await axe_clean(page, "chat notifications, refused")

    await field.fill("https://hooks.slack.com/services/T0/B0/notARealSecret")
    await save.click()
    await expect(page.get_by_role("status")).to_contain_text("Saved.")
    await expect(page.get_by_text("Posting to https://hooks.slack.com/…")).to_be_visible()
    await expect(page.get_by_text("notARealSecret")).to_have_count(0)
    await snap_both(page, "notifications-admin-saved")
    await axe_clean(page, "chat notifications, saved")
