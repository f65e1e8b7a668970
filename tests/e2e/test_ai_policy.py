"""The AI-use policy in a real browser: read on the landing page, acknowledged at Start,
restated on the attempt page, and under `ai_disclosed` a disclosure the page asks for
before it submits (with and without JavaScript), under axe, at 1280 and 390 px."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect

from tests.e2e.harness import (
    DESKTOP,
    SCREENSHOTS,
    AppServer,
    check_axe,
    invitation_link,
    stored_attempt,
)
from tests.support.factories import make_candidate, make_screen
from tests.support.smtp import SmtpServer

ANSWER = "## Decision\npgvector with HNSW; p95 stays under 300 ms at 50 qps."
DISCLOSURE = "I asked an assistant to check my cost arithmetic and kept none of its text."


async def snap_both(page: Page, name: str) -> None:
    """Screenshots at 1280 and 390 px, and no sideways scrolling on the phone."""
    await page.screenshot(path=SCREENSHOTS / f"{name}-1280.png", full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    await page.screenshot(path=SCREENSHOTS / f"{name}-390.png", full_page=True)
    await page.set_viewport_size(DESKTOP)
    assert overflow <= 0, f"{name}: {overflow}px wider than a 390px screen"


async def disclosed_link(server: AppServer, smtp: SmtpServer, email: str, name: str) -> str:
    async with server.db() as db:
        screen = await make_screen(
            db, server.now(), title="AI allowed, with disclosure", ai_policy="ai_disclosed"
        )
        await make_candidate(
            db, server.settings, server.now(), screen=screen, name=name, email=email
        )
    return await invitation_link(smtp.inbox, email)


async def test_a_candidate_acknowledges_the_policy_and_discloses_their_ai_use(
    app_server: AppServer, smtp: SmtpServer, page: Page
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    link = await disclosed_link(app_server, smtp, "dana.disclosed@example.com", "Dana Disclosed")

    await page.goto(link)
    policy = page.get_by_role("region", name="AI-use policy: AI allowed, with disclosure")
    await expect(policy).to_contain_text("you must describe how you used them")
    await expect(
        page.get_by_text("is recorded with it, and reviewers can replay it")
    ).to_be_visible()
    await snap_both(page, "ai-policy-landing")
    await check_axe(page, "AI-use policy, landing")

    # Start without the box ticked: the browser keeps the candidate on the page.
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    await expect(page).to_have_url(re.compile(r"/s/[^/]+$"))
    assert (await stored_attempt(app_server, link)).started_at is None
    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    await expect(page).to_have_url(re.compile(r"/attempt$"))

    await expect(
        page.get_by_role("region", name="AI-use policy: AI allowed, with disclosure")
    ).to_be_visible()
    await page.get_by_label("Your answer").fill(ANSWER)
    disclosure = page.get_by_label(re.compile("^How you used AI tools"))
    await expect(disclosure).to_be_visible()
    # Nothing written about AI use: the page says so before sending anything.
    await disclosure.fill("   ")
    await page.get_by_role("button", name="Submit answer").click()
    await expect(page.locator("#notice")).to_have_text(
        re.compile("Before submitting, describe how you used AI tools")
    )
    await expect(disclosure).to_be_focused()
    await expect(page).to_have_url(re.compile(r"/attempt$"))
    await snap_both(page, "ai-policy-attempt")
    await check_axe(page, "AI-use policy, attempt with disclosure")

    await disclosure.fill(DISCLOSURE)
    await page.get_by_label(re.compile("^The conversation")).fill(
        "Me: is 1.2M × 2,600 tokens 3.1B?"
    )
    await page.get_by_role("button", name="Submit answer").click()
    await page.get_by_role("dialog").get_by_role("button", name="Submit now").click()
    await expect(page).to_have_url(re.compile(r"/done$"))

    attempt = await stored_attempt(app_server, link)
    assert attempt.ai_policy == "ai_disclosed" and attempt.ai_acknowledged_at is not None
    assert attempt.final_answer == ANSWER
    assert attempt.ai_disclosure == DISCLOSURE
    assert attempt.ai_conversation == "Me: is 1.2M × 2,600 tokens 3.1B?"


async def test_without_javascript_a_refused_submit_keeps_every_word(
    app_server: AppServer, smtp: SmtpServer, browser: Browser
) -> None:
    link = await disclosed_link(app_server, smtp, "nico@example.com", "Nico Noscript")
    context = await browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        page = await context.new_page()
        await page.goto(link)
        await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
        await page.get_by_role("button", name=re.compile(r"^Start")).click()
        await page.get_by_label("Your answer").fill(ANSWER)
        await page.get_by_label(re.compile("^How you used AI tools")).fill("  ")
        await page.get_by_label(re.compile("^The conversation")).fill("Me: hello")
        await page.get_by_role("button", name="Submit answer").click()
        await expect(page.get_by_role("alert").first).to_contain_text(
            "describe how you used AI tools"
        )
        await expect(page.get_by_label("Your answer")).to_have_value(ANSWER)
        await expect(page.get_by_label(re.compile("^The conversation"))).to_have_value("Me: hello")
        # (No axe here: it runs as a script, which this context refuses; the JavaScript
        # test checks the same page with its disclosure fields.)
        await snap_both(page, "ai-policy-refused-no-js")
        attempt = await stored_attempt(app_server, link)
        assert attempt.state == "started" and attempt.draft == ANSWER

        await page.get_by_label(re.compile("^How you used AI tools")).fill(DISCLOSURE)
        await page.get_by_role("button", name="Submit answer").click()
        # Without JavaScript an early submit is confirmed on a page that carries it all.
        await page.get_by_role("button", name="Submit now").click()
        await expect(page).to_have_url(re.compile(r"/done$"))
        attempt = await stored_attempt(app_server, link)
        assert attempt.ai_disclosure == DISCLOSURE and attempt.final_answer == ANSWER
    finally:
        await context.close()
