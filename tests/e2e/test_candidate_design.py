"""The candidate's attempt page as the design pass left it, in a real browser at 1280 and
390 px: Prompt and Answer tabs on a phone with the timer always in view, the Markdown
preview, wide tables that scroll in a focusable region, and the confirmation before an
early Submit, with and without JavaScript. Axe must report nothing, of any impact."""

from __future__ import annotations

import re

from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from screen.platform.models import AttemptState
from screen.platform.paths import PROMPTS_DIR
from tests.e2e.harness import (
    SCREENSHOTS,
    AppServer,
    check_axe,
    invitation_link,
    invite,
    stored_attempt,
)
from tests.support.factories import make_candidate, make_screen
from tests.support.smtp import SmtpServer

WIDE: ViewportSize = {"width": 1280, "height": 800}
PHONE_390: ViewportSize = {"width": 390, "height": 844}
RAG_TITLE = "Choose a retrieval architecture for a customer-support assistant"
MARKDOWN = (
    "## Decision\n\n"
    "Hybrid search on the existing Elasticsearch, **no reranker** until the DPA is signed.\n\n"
    "| option | p95 TTFT | cost a month |\n|---|---|---|\n"
    "| large model, 8 chunks | 1.5 s | $16,200 |\n| small model, 4 chunks | 0.6 s | $1,100 |\n\n"
    "<script>alert('x')</script>\n"
)
LEFT = re.compile(r"^You have (\d+) minutes? left\. Submit now\?$")


async def invite_to_rag(server: AppServer, smtp: SmtpServer, email: str, name: str) -> str:
    """An invitation to the library's RAG prompt, whose price sheet is the widest table."""
    async with server.db() as db:
        screen = await make_screen(
            db,
            server.now(),
            prompts_dir=PROMPTS_DIR,
            prompt_slug="rag-support-assistant",
            title=f"Support assistant ({email})",
        )
        await make_candidate(
            db, server.settings, server.now(), screen=screen, name=name, email=email
        )
    return await invitation_link(smtp.inbox, email)


async def start_attempt(page: Page, link: str) -> None:
    await page.goto(link)
    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    await expect(page).to_have_url(re.compile(r"/attempt$"))


async def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page)


async def no_violations(page: Page, name: str) -> None:
    """Axe at the page's width and at the phone width, with nothing reported at all."""
    found = await check_axe(page, name)
    assert not any(found.values()), f"axe on {name}: {found}"


async def sideways_overflow(page: Page) -> int:
    overflow: int = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return overflow


async def in_viewport(page: Page, selector: str) -> bool:
    inside: bool = await page.locator(selector).first.evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return r.top >= -1 && r.bottom <= innerHeight + 1 && r.height > 0; }"
    )
    return inside


async def starts_in_viewport(page: Page, selector: str) -> bool:
    """The element's top is on screen: an editor taller than the phone's screen is there
    to type in without scrolling."""
    inside: bool = await page.locator(selector).first.evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return r.top >= 0 && r.top + 40 <= innerHeight; }"
    )
    return inside


async def test_on_a_phone_the_answer_is_one_tap_away_and_the_timer_stays_in_view(
    app_server: AppServer, smtp: SmtpServer, page: Page
) -> None:
    link = await invite_to_rag(app_server, smtp, "pia@example.com", "Pia Phone")
    await page.set_viewport_size(PHONE_390)
    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_have_text(RAG_TITLE)
    await no_violations(page, "candidate landing, 390")
    await start_attempt(page, link)

    prompt_tab = page.get_by_role("tab", name="Prompt")
    answer_tab = page.get_by_role("tab", name="Answer")
    await expect(prompt_tab).to_have_attribute("aria-selected", "true")
    await expect(page.get_by_role("tabpanel", name="Prompt")).to_be_visible()
    editor = page.get_by_label("Your answer")
    await expect(editor).to_be_hidden()
    await shot(page, "candidate-attempt-390-prompt", full_page=True)
    # The price sheet scrolls inside its own focusable region; the page does not widen.
    prices = page.get_by_role("region", name="Table 1 in the prompt")
    await expect(prices).to_have_attribute("tabindex", "0")
    assert await prices.evaluate("el => el.scrollWidth > el.clientWidth")
    assert await sideways_overflow(page) <= 0
    # Prose breaks between words, never inside one that fits.
    wrap = await page.locator(".prose p").first.evaluate("el => getComputedStyle(el).overflowWrap")
    assert wrap == "break-word"
    await prices.scroll_into_view_if_needed()
    await prices.focus()
    await page.keyboard.press("ArrowRight")
    assert await in_viewport(page, "#timer"), "the timer scrolled away with the prompt"
    await shot(page, "candidate-attempt-390-table")
    await no_violations(page, "candidate attempt, prompt tab, 390")

    await answer_tab.click()  # one tap, from anywhere in the prompt
    await expect(editor).to_be_visible()
    assert await starts_in_viewport(page, "#answer")
    assert await in_viewport(page, "#timer")
    await editor.click()
    await page.keyboard.type("Hybrid search first; the reranker waits for its DPA.")
    await expect(page.locator("#save-status")).to_have_text(
        re.compile(r"^Saved \d"), timeout=20_000
    )
    await shot(page, "candidate-attempt-390-answer")
    await no_violations(page, "candidate attempt, answer tab, 390")

    # Arrow keys move between the tabs, as in any tab list.
    await answer_tab.focus()
    await page.keyboard.press("ArrowLeft")
    await expect(prompt_tab).to_be_focused()
    await expect(prompt_tab).to_have_attribute("aria-selected", "true")
    # Desktop keeps the two columns, without the tabs.
    await page.set_viewport_size(WIDE)
    await expect(page.get_by_role("tablist")).to_be_hidden()
    await expect(editor).to_be_visible()
    await expect(page.locator("#prompt")).to_be_visible()
    await shot(page, "candidate-attempt-1280")
    # The prompt scrolls on its own there, and can be scrolled from the keyboard.
    await expect(page.locator("#prompt")).to_have_attribute("tabindex", "0")
    assert await page.locator("#prompt").evaluate("el => el.scrollHeight > el.clientHeight")
    await no_violations(page, "candidate attempt, wide-table prompt, 1280")


async def test_the_preview_shows_the_answer_as_reviewers_will_read_it(
    app_server: AppServer, smtp: SmtpServer, page: Page
) -> None:
    link = await invite_to_rag(app_server, smtp, "pete@example.com", "Pete Preview")
    await page.set_viewport_size(WIDE)
    await page.goto(link)
    await no_violations(page, "candidate landing, 1280")
    await start_attempt(page, link)
    editor = page.get_by_label("Your answer")
    await editor.fill(MARKDOWN)

    toggle = page.get_by_role("button", name="Preview")
    await toggle.click()
    preview = page.get_by_role("region", name=re.compile("^Preview, as reviewers"))
    await expect(preview.get_by_role("heading", name="Decision")).to_be_visible()
    await expect(preview.get_by_role("table")).to_be_visible()
    await expect(preview.get_by_text("<script>alert('x')</script>")).to_be_visible()
    await expect(editor).to_be_hidden()
    await shot(page, "candidate-preview-1280")
    await no_violations(page, "candidate attempt, preview open")
    await page.set_viewport_size(PHONE_390)
    await page.get_by_role("tab", name="Answer").click()
    await shot(page, "candidate-preview-390")
    await page.set_viewport_size(WIDE)

    await page.get_by_role("button", name="Back to editing").click()
    await expect(editor).to_be_visible()
    await expect(editor).to_be_focused()
    await expect(editor).to_have_value(MARKDOWN)


async def test_an_early_submit_is_confirmed_in_a_dialog(
    app_server: AppServer, smtp: SmtpServer, page: Page
) -> None:
    link = await invite(app_server, smtp, "dee@example.com", "Dee Dialog")
    await page.set_viewport_size(WIDE)
    await start_attempt(page, link)
    await page.get_by_label("Your answer").fill("pgvector with HNSW; no new vendor.")

    await page.get_by_role("button", name="Submit answer").click()
    dialog = page.get_by_role("dialog", name="Submit now?")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#submit-dialog-text")).to_have_text(LEFT)
    await expect(dialog.get_by_role("button", name="Keep writing")).to_be_focused()
    await shot(page, "submit-confirm-dialog-1280")
    await no_violations(page, "candidate submit dialog")
    await page.set_viewport_size(PHONE_390)
    await shot(page, "submit-confirm-dialog-390")
    await page.set_viewport_size(WIDE)

    await page.keyboard.press("Escape")  # as "Keep writing": nothing is sent
    await expect(dialog).to_be_hidden()
    await expect(page).to_have_url(re.compile(r"/attempt$"))
    assert (await stored_attempt(app_server, link)).state == AttemptState.STARTED

    await page.get_by_role("button", name="Submit answer").click()
    await dialog.get_by_role("button", name="Submit now").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Thank you — your answer is in")
    await shot(page, "candidate-done-1280")
    await no_violations(page, "candidate done, 1280")
    await page.set_viewport_size(PHONE_390)
    await shot(page, "candidate-done-390")
    await no_violations(page, "candidate done, 390")
    attempt = await stored_attempt(app_server, link)
    assert attempt.state == AttemptState.SUBMITTED
    assert attempt.final_answer == "pgvector with HNSW; no new vendor."


async def test_without_javascript_an_early_submit_asks_on_a_page_first(
    app_server: AppServer, smtp: SmtpServer, browser: Browser
) -> None:
    link = await invite(app_server, smtp, "nora@example.com", "Nora Noscript")
    context = await browser.new_context(viewport=PHONE_390, java_script_enabled=False)
    try:
        page = await context.new_page()
        await start_attempt(page, link)
        # Both parts stacked, with a way past the long prompt to the editor.
        await expect(page.get_by_role("tablist")).to_be_hidden()
        await expect(page.get_by_role("button", name="Preview")).to_be_hidden()  # needs JS
        await page.get_by_role("link", name="Skip to your answer").click()
        await expect(page.get_by_label("Your answer")).to_be_focused()
        assert await starts_in_viewport(page, "#answer")
        await shot(page, "candidate-attempt-390-no-js")
        await page.get_by_label("Your answer").fill("Typed without JavaScript.\nLine two.")
        await page.get_by_role("button", name="Submit answer").click()

        await expect(page.get_by_role("heading", level=1)).to_have_text("Submit your answer now?")
        await expect(page.locator(".confirm-question")).to_have_text(LEFT)
        await shot(page, "submit-confirm-no-js-390", full_page=True)
        await page.set_viewport_size(WIDE)
        await shot(page, "submit-confirm-no-js-1280", full_page=True)
        attempt = await stored_attempt(app_server, link)
        assert attempt.state == AttemptState.STARTED  # asked, not yet submitted
        assert attempt.draft == "Typed without JavaScript.\nLine two."  # and nothing lost

        await page.get_by_role("link", name="Keep writing").click()
        await expect(page.get_by_label("Your answer")).to_have_value(
            "Typed without JavaScript.\nLine two."
        )
        await page.get_by_role("button", name="Submit answer").click()
        await page.get_by_role("button", name="Submit now").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Thank you — your answer is in"
        )
    finally:
        await context.close()
    attempt = await stored_attempt(app_server, link)
    assert attempt.state == AttemptState.SUBMITTED
    assert attempt.final_answer == "Typed without JavaScript.\nLine two."


async def test_the_confirmation_page_passes_axe(
    app_server: AppServer, smtp: SmtpServer, context: BrowserContext, page: Page
) -> None:
    # The page a candidate without JavaScript gets, checked in a browser that can run axe:
    # the form is posted as the page would post it without its script.
    link = await invite_to_rag(app_server, smtp, "ash@example.com", "Ash Axe")
    await page.set_viewport_size(WIDE)
    await start_attempt(page, link)
    await page.get_by_label("Your answer").fill("An answer to confirm.")
    # Leaving the editor saves at once, whatever became of the input event (a fill that
    # raced the script's start left the status at "Autosave is on" for 20 s in CI).
    await page.get_by_label("Your answer").press("Tab")
    # The autosave moves the form's revision on; posting before it lands is a stale save.
    await expect(page.locator("#save-status")).to_have_text(
        re.compile(r"^Saved \d"), timeout=20_000
    )
    await page.evaluate(
        "() => { document.getElementById('confirm').value = 'ask';"
        " document.getElementById('answer-form').submit(); }"
    )
    await expect(page.get_by_role("heading", level=1)).to_have_text("Submit your answer now?")
    await no_violations(page, "candidate submit confirmation page, 1280")
    await page.set_viewport_size(PHONE_390)
    await no_violations(page, "candidate submit confirmation page, 390")

    # This prompt asks follow-ups: the next page is the first question.
    await page.get_by_role("button", name="Submit now").click()
    await expect(page.get_by_text("Follow-up question 1 of 2")).to_be_visible()
    await shot(page, "candidate-follow-up-390")
    await no_violations(page, "candidate follow-up, 390")
    await page.set_viewport_size(WIDE)
    await shot(page, "candidate-follow-up-1280")
    await no_violations(page, "candidate follow-up, 1280")
