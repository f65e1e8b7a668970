"""A recruiter in a real browser: a new screen, candidates from a CSV file, the dashboard,
the invitation emails arriving, and the CSV export downloaded."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from playwright.async_api import Page, expect

from screen.recruiting.invitations import invite as invite_one
from tests.e2e.harness import (
    DESKTOP,
    PHONE,
    AppServer,
    check_axe,
    invitation_link,
    sign_in,
    snap,
)
from tests.support.factories import TEST_ACTOR, make_screen, make_user
from tests.support.smtp import SmtpServer

CANDIDATES_CSV = """name,email,external_id,accommodation
Mary Jackson,mary.jackson@example.com,ats-2001,
Dorothy Vaughan,dorothy.vaughan@example.com,ats-2002,1.5
Not An Email,not-an-email,ats-2003,
"""


async def test_a_recruiter_creates_a_screen_invites_from_csv_and_exports(
    app_server: AppServer, smtp: SmtpServer, page: Page, tmp_path: Path
) -> None:
    async with app_server.db() as db:
        recruiter = await make_user(db, app_server.now(), "recruiter", email="rita@staff.example")

    await sign_in(page, recruiter.email)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Screens")
    await snap(page, "recruiter-screens")
    await check_axe(page, "recruiter screens")
    await page.get_by_role("link", name="New screen").click()
    prompt = page.get_by_label(re.compile(r"^Prompt"))
    # Prompts are named by title; the sample prompt is "Pick a vector store …".
    label = await prompt.locator(
        "option", has_text=re.compile(r"^Pick a vector store for a 2M")
    ).inner_text()
    await prompt.select_option(label=label)
    await page.get_by_label("Title").fill("Platform engineer, winter")
    await snap(page, "recruiter-new-screen")
    await check_axe(page, "recruiter new screen")
    await page.get_by_role("button", name="Create screen").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Platform engineer, winter")

    await page.get_by_role("link", name="Invite candidates").click()
    await page.get_by_label("CSV file").set_input_files(
        {"name": "candidates.csv", "mimeType": "text/csv", "buffer": CANDIDATES_CSV.encode()}
    )
    await page.get_by_role("button", name="Check the file").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "candidates.csv: 2 ready, 1 with problems"
    )
    await snap(page, "recruiter-import-preview")
    await check_axe(page, "recruiter import preview")
    await page.get_by_role("button", name="Invite 2 candidates").click()

    await expect(page.get_by_role("status")).to_have_text(
        "2 candidates invited; their emails are on the way."
    )
    rows = page.locator("table.candidates tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="Mary Jackson")).to_contain_text("invited")
    await expect(rows.filter(has_text="Dorothy Vaughan")).to_contain_text("ats-2002")
    await snap(page, "recruiter-dashboard")
    await check_axe(page, "recruiter dashboard")
    for email in ("mary.jackson@example.com", "dorothy.vaughan@example.com"):
        assert "/s/" in await invitation_link(smtp.inbox, email)

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Export CSV").click()
    download = await downloading.value
    assert download.suggested_filename.endswith(".csv")
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    exported = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert sorted(row["candidate_email"] for row in exported) == [
        "dorothy.vaughan@example.com",
        "mary.jackson@example.com",
    ]

    await rows.filter(has_text="Mary Jackson").get_by_role("link").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mary Jackson")
    await snap(page, "recruiter-invitation")
    await check_axe(page, "recruiter invitation")


async def page_overflow(page: Page) -> dict[int, int]:
    """Pixels of sideways scrolling at desktop and phone width (0 when the page fits)."""
    widths = {}
    for viewport in (DESKTOP, PHONE):
        await page.set_viewport_size(viewport)
        widths[viewport["width"]] = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    await page.set_viewport_size(DESKTOP)
    return widths


async def test_long_unbroken_titles_names_and_ids_wrap_instead_of_widening_pages(
    app_server: AppServer, smtp: SmtpServer, page: Page
) -> None:
    """People paste things: a 200-letter title, name or ATS id must not make any page
    scroll sideways (it did, to 5,700 px)."""
    title, name, external_id = "W" * 200, "N" * 200, "E" * 200
    async with app_server.db() as db:
        recruiter = await make_user(db, app_server.now(), "recruiter", email="lou@staff.example")
        screen = await make_screen(db, app_server.now(), title=title)
        await invite_one(
            db,
            screen,
            name=name,
            email="long@example.com",
            now=app_server.now(),
            base_url=app_server.settings.base_url,
            secret_key=app_server.settings.secret_key,
            external_id=external_id,
            actor=TEST_ACTOR,
        )
        await db.commit()
    link = await invitation_link(smtp.inbox, "long@example.com")

    await page.goto(link)
    candidate_landing = await page_overflow(page)
    await sign_in(page, recruiter.email)
    await page.goto(f"/recruiter/screens/{screen.id}")
    dashboard = await page_overflow(page)
    # Measure the page the click leads to, not the one it leaves (document.body is null
    # for a moment in between).
    async with page.expect_navigation():
        await page.get_by_role("link", name=name).click()
    invitation = await page_overflow(page)
    await page.goto(f"/recruiter/screens/{screen.id}/invite")
    await page.get_by_label("CSV file").set_input_files(
        {
            "name": "long.csv",
            "mimeType": "text/csv",
            "buffer": f"name,email,external_id\n{'M' * 200},m@example.com,{'X' * 200}\n".encode(),
        }
    )
    async with page.expect_navigation():
        await page.get_by_role("button", name="Check the file").click()
    preview = await page_overflow(page)

    assert candidate_landing == {1280: 0, 360: 0}
    assert dashboard == {1280: 0, 360: 0}
    assert invitation == {1280: 0, 360: 0}
    assert preview == {1280: 0, 360: 0}
