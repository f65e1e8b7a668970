"""Self-identification and the adverse-impact page in a real browser: the candidate finds
the optional questions from the thank-you page, answers by keyboard-reachable radio
groups and is told it saved; a lead finds the page in the navigation. axe-core finds
nothing serious on either, and neither scrolls sideways on a phone."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect

from tests.e2e.harness import AppServer, check_axe, sign_in, snap
from tests.support.factories import make_submitted, make_user


async def test_a_candidate_answers_and_a_lead_reads_the_totals(
    app_server: AppServer, new_page: Callable[[AppServer], Awaitable[Page]]
) -> None:
    async with app_server.db() as db:
        candidate = await make_submitted(
            db, app_server.settings, app_server.now(), name="Fay Fairness", email="fay@fair.example"
        )
        lead = await make_user(db, app_server.now(), "lead", email="lead@fair.example")
        screen_id = candidate.screen.id
        lead_email = lead.email

    page = await new_page(app_server)
    await page.goto(f"{candidate.path}/done")
    await page.get_by_role("link", name="Answer the optional questions").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("A few questions about you")
    await check_axe(page, "self-identification form")
    await snap(page, "self-identification")
    gender = page.get_by_role("group", name="What is your gender?")
    await gender.get_by_label("Non-binary").check()
    await page.get_by_role("group", name="What is your age?").get_by_label("40 to 49").check()
    await page.get_by_role("button", name="Save my answers").click()
    await expect(page.get_by_role("status")).to_contain_text("your answers are saved")
    await expect(gender.get_by_label("Non-binary")).to_be_checked()

    lead_page = await new_page(app_server)
    await sign_in(lead_page, lead_email)
    await (
        lead_page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="Fairness")
        .click()
    )
    await lead_page.get_by_label("Screen", exact=True).select_option(str(screen_id))
    await lead_page.get_by_role("button", name="Show").click()
    await expect(lead_page.get_by_role("heading", level=1)).to_contain_text("Screen:")
    # The first view asks for the figures; the server's job runner computes them and a
    # later view shows them with when they were computed.
    await expect(lead_page.locator("#computed-waiting")).to_contain_text("being computed")
    give_up = time.monotonic() + 60
    while not await lead_page.locator("#computed-at").count() and time.monotonic() < give_up:
        await lead_page.wait_for_timeout(500)
        await lead_page.reload()
    await expect(lead_page.locator("#computed-at")).to_contain_text("Computed at")
    region = lead_page.get_by_role("region", name="Adverse impact by gender")
    # One candidate in all: every group is words, never a count.
    await expect(region.get_by_role("row", name="Non-binary")).to_contain_text("fewer than 5")
    await check_axe(lead_page, "adverse-impact page")
    await snap(lead_page, "adverse-impact")
