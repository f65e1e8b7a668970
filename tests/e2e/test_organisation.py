"""The employer's face in a real browser (issue 18): an admin sets the organisation's name,
colour and logo through the form, and the candidate's landing page shows them at 1280 and
390 px, with the logo loaded as an image and "Powered by Screen" in small print."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from playwright.async_api import Page, ViewportSize, expect

from tests.e2e.harness import SCREENSHOTS, AppServer, check_axe, invitation_link, sign_in
from tests.support.factories import make_candidate, make_user
from tests.support.smtp import SmtpServer

WIDE: ViewportSize = {"width": 1280, "height": 800}
PHONE_390: ViewportSize = {"width": 390, "height": 844}
LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
    b'<rect width="64" height="64" rx="14" fill="#0b6e4f"/><path d="M19 45V19l26 26V19" '
    b'fill="none" stroke="#fff" stroke-width="7" stroke-linecap="round"/></svg>'
)


async def test_the_landing_page_shows_the_organisations_name_and_logo(
    start_server: Callable[..., AppServer],
    new_page: Callable[[AppServer], Awaitable[Page]],
    smtp: SmtpServer,
) -> None:
    # A server of its own: the shared one keeps Screen's own look for the other tests.
    server = start_server()
    async with server.db() as db:
        await make_user(db, server.now(), "admin", email="ada@northwind.example")
    page = await new_page(server)
    await sign_in(page, "ada@northwind.example")

    await page.goto("/recruiter")
    await page.get_by_role("link", name="Integrations").click()
    await page.get_by_role("link", name="Organisation").click()
    await page.get_by_label("Organisation name").fill("Northwind Analytics")
    await page.get_by_label("Accent colour").fill("#ff8800")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#accent-problem")).to_contain_text("contrast of 2.22:1")
    await page.get_by_label("Accent colour").fill("#0b6e4f")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved.")
    await page.get_by_label("Upload a logo").set_input_files(
        {"name": "northwind.svg", "mimeType": "image/svg+xml", "buffer": LOGO}
    )
    await page.get_by_role("button", name="Upload logo").click()
    await expect(page.get_by_role("status")).to_contain_text("Logo saved.")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "organisation-admin.png", full_page=True)

    async with server.db() as db:
        await make_candidate(
            db, server.settings, server.now(), name="Lena Logo", email="lena@example.com"
        )
    link = await invitation_link(smtp.inbox, "lena@example.com")
    for label, viewport in (("1280", WIDE), ("390", PHONE_390)):
        await page.set_viewport_size(viewport)
        await page.goto(link)
        header = page.locator(".site-header")
        logo = header.locator("img.org-logo")
        await expect(header.get_by_text("Northwind Analytics")).to_be_visible()
        await expect(logo).to_be_visible()
        loaded = await logo.evaluate("img => img.complete && img.naturalWidth > 0")
        box = await logo.bounding_box()
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        await page.screenshot(path=SCREENSHOTS / f"organisation-landing-{label}.png")
        await page.screenshot(
            path=SCREENSHOTS / f"organisation-landing-{label}-full.png", full_page=True
        )

        assert loaded, f"the logo did not load at {label} px"
        assert box is not None and 16 <= box["height"] <= 40
        assert overflow <= 0, f"{overflow}px sideways scroll at {label} px"
        await expect(page).to_have_title(re.compile(r"— Northwind Analytics$"))
        await expect(page.locator(".powered-by")).to_have_text("Powered by Screen")
        start = page.get_by_role("button", name=re.compile(r"^Start"))
        colour = await start.evaluate("b => getComputedStyle(b).backgroundColor")
        assert colour == "rgb(11, 110, 79)"
    await check_axe(page, "organisation landing")
