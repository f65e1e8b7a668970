"""The candidate's screen in a real browser: from the emailed link to the thank-you page,
at the deadline, offline, in a stale tab, and without JavaScript."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    Response,
    expect,
)
from playwright.async_api import Error as PlaywrightError

from screen.platform.models import AttemptState
from tests.e2e.harness import (
    DESKTOP,
    PHONE,
    AppServer,
    check_axe,
    invite,
    snap,
    stored_attempt,
)
from tests.support.smtp import SmtpServer

PROMPT_TITLE = "Pick a vector store for a 2M-document search feature"
ANSWER = (
    "## Decision\n"
    "pgvector with an HNSW index on the existing PostgreSQL.\n"
    "p95 stays under 300 ms at 50 qps; cost is about $900 a month.\n"
)
SAVED = re.compile(r"^Saved \d")
RETRYING = re.compile(r"not saved.*retrying", re.IGNORECASE)
CLOCK_TEXT = re.compile(r"^(\d+):(\d\d)$")


async def seconds_left(page: Page) -> int:
    timer = page.locator("#timer-value")
    await expect(timer).to_have_text(CLOCK_TEXT)
    match = CLOCK_TEXT.match(await timer.inner_text())
    assert match
    return int(match.group(1)) * 60 + int(match.group(2))


async def place(page: Page, selector: str) -> list[float]:
    """Where an element sits in the document (not the viewport, which scrolls)."""
    box: list[float] = await page.locator(selector).evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return [r.left + scrollX, r.top + scrollY, r.width, r.height]; }"
    )
    return box


async def still_writable(page: Page) -> bool:
    try:
        return bool(
            await page.evaluate(
                "() => { const el = document.getElementById('answer');"
                " return !!el && !el.readOnly; }"
            )
        )
    except PlaywrightError:  # the page is on its way to the thank-you page
        return False


async def test_a_candidate_takes_the_screen_from_the_emailed_link(
    app_server: AppServer, smtp: SmtpServer, page: Page
) -> None:
    link = await invite(app_server, smtp, "ada@example.com", "Ada Candidate")

    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_have_text(PROMPT_TITLE)
    await expect(page.get_by_text("Hello Ada Candidate")).to_be_visible()
    await snap(page, "candidate-landing")
    await check_axe(page, "candidate landing")

    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()

    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    await expect(page).to_have_url(re.compile(r"/attempt$"))
    editor = page.get_by_label("Your answer")
    await editor.click()
    await page.keyboard.type(ANSWER)
    status = page.locator("#save-status")
    await expect(status).to_have_text("Unsaved changes")
    # No blur, no shortcut: the periodic autosave (about every 10 s) must do it.
    await expect(status).to_have_text(SAVED, timeout=20_000)
    before = await seconds_left(page)
    assert 25 * 60 < before < 30 * 60

    await page.reload()
    await expect(editor).to_have_value(ANSWER)
    after = await seconds_left(page)
    assert 0 <= before - after <= 10, (before, after)
    await snap(page, "candidate-attempt")
    await check_axe(page, "candidate attempt")

    await page.get_by_role("button", name="Submit answer").click()
    await page.get_by_role("dialog").get_by_role("button", name="Submit now").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Thank you — your answer is in")
    await snap(page, "candidate-thank-you")
    await check_axe(page, "candidate thank-you")

    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "This screen has already been submitted"
    )
    await snap(page, "candidate-already-submitted")
    attempt = await stored_attempt(app_server, link)
    assert attempt.state == AttemptState.SUBMITTED
    assert attempt.final_answer == ANSWER


async def test_at_the_deadline_the_page_submits_what_was_saved(
    start_server: Callable[..., AppServer],
    new_page: Callable[[AppServer], Awaitable[Page]],
    smtp: SmtpServer,
) -> None:
    # Attempts on this server last seconds, so the page really reaches its deadline.
    short_server = start_server(SCREEN_TEST_DURATION_SECONDS="10")
    page = await new_page(short_server)
    link = await invite(short_server, smtp, "grace@example.com", "Grace Deadline")
    await page.goto(link)
    await expect(page.get_by_text("0 minutes 10 seconds").first).to_be_visible()
    acknowledged: list[str] = []
    submitted: list[str] = []

    async def on_response(response: Response) -> None:
        if response.url.endswith("/draft") and response.status == 200:
            acknowledged.append(json.loads(response.request.post_data or "{}")["answer"])

    def on_request(request: Request) -> None:
        if request.url.endswith("/submit"):
            submitted.extend(parse_qs(request.post_data or "")["answer"])

    page.on("response", on_response)
    page.on("request", on_request)
    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    editor = page.get_by_label("Your answer")
    await editor.click()
    await expect(page.locator("#timer")).to_have_attribute("data-urgency", "critical")

    words = 0
    give_up = time.monotonic() + 60
    while await still_writable(page):
        await page.keyboard.type(f"word{words} ", delay=20)
        words += 1
        if words == 15:
            await snap(page, "candidate-attempt-time-nearly-up")
            await check_axe(page, "candidate attempt, time nearly up")
        assert time.monotonic() < give_up, "the countdown never ended"

    await expect(page).to_have_url(re.compile(r"/done$"), timeout=15_000)
    heading = page.get_by_role("heading", level=1)
    await expect(heading).to_have_text("Time is up — your answer is in")
    await expect(
        page.get_by_text("last saved version of your answer was submitted")
    ).to_be_visible()
    await snap(page, "candidate-time-up")
    attempt = await stored_attempt(short_server, link)
    assert attempt.state == AttemptState.AUTO_SUBMITTED
    assert attempt.final_answer
    assert attempt.final_answer.startswith("word0 word1")
    assert attempt.final_answer == acknowledged[-1] == submitted[-1]


async def editor_places(page: Page) -> list[list[float]]:
    """Where the editor sits at phone and at desktop width."""
    places = []
    for size in (PHONE, DESKTOP):
        await page.set_viewport_size(size)
        # The page's tabs follow the width on a media-query change event, which may come
        # after the resize returns; on a phone the editor is measured on its own tab, where
        # a candidate types (on the Prompt tab it is hidden, and which tab was open depended
        # on the events' timing).
        phone = size["width"] < 1000
        await page.wait_for_function(
            "tabbed => document.getElementById('attempt-layout').classList.contains('tabbed')"
            " === tabbed",
            arg=phone,
        )
        if phone:
            await page.evaluate("() => document.getElementById('tab-answer').click()")
        places.append(await place(page, "#answer"))
    return places


async def test_typing_offline_is_kept_and_saved_when_the_network_returns(
    app_server: AppServer, smtp: SmtpServer, context: BrowserContext, page: Page
) -> None:
    link = await invite(app_server, smtp, "otto@example.com", "Otto Offline")
    await page.goto(link)
    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    editor = page.get_by_label("Your answer")
    status = page.locator("#save-status")
    spoken = page.locator("#save-announcer")
    await editor.click()
    await page.keyboard.type("Online part. ")
    await page.keyboard.press("Tab")  # leaving the editor saves at once
    await expect(status).to_have_text(SAVED)
    where = await editor_places(page)

    # When each save failed, by the page's own clock: the test process hears of a failed
    # request late and in bunches on a loaded machine, which made the gaps look shrinking.
    await page.evaluate(
        """() => {
            window.draftFailures = [];
            const send = window.fetch;
            window.fetch = function (url) {
                const sent = send.apply(this, arguments);
                if (String(url).endsWith("/draft")) {
                    sent.catch(() => window.draftFailures.push(performance.now() / 1000));
                }
                return sent;
            };
        }"""
    )
    await context.set_offline(True)
    await editor.click()
    await page.keyboard.type("Written on the train.")
    await page.keyboard.press("Tab")
    await expect(status).to_have_text(RETRYING)
    await expect(spoken).to_have_text("Your answer is not saved yet. Retrying.")
    await editor.click()
    await page.keyboard.type(" Still offline.")
    await expect(status).to_have_text(RETRYING)  # new text does not hide the failure
    await expect(editor).to_have_value("Online part. Written on the train. Still offline.")
    assert await editor_places(page) == where, "the editor moved when the status changed"
    await snap(page, "candidate-attempt-offline")
    await check_axe(page, "candidate attempt, not saved")
    # Retries back off (2 s, then 4 s) and are not announced again.
    await page.wait_for_timeout(7_000)
    failed: list[float] = await page.evaluate("() => window.draftFailures")
    assert len(failed) >= 3, failed
    assert failed[2] - failed[1] > failed[1] - failed[0], failed
    await expect(status).to_have_text(RETRYING)

    await context.set_offline(False)
    await expect(status).to_have_text(SAVED, timeout=20_000)
    await expect(spoken).to_have_text("Your answer is saved again.")
    assert await editor_places(page) == where
    attempt = await stored_attempt(app_server, link)
    assert attempt.draft == "Online part. Written on the train. Still offline."


async def test_a_stale_tab_is_told_to_reload_and_keeps_its_text(
    app_server: AppServer, smtp: SmtpServer, context: BrowserContext, page: Page
) -> None:
    link = await invite(app_server, smtp, "sol@example.com", "Sol Twotabs")
    await page.goto(link)
    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    other = await context.new_page()
    await other.goto(link)
    await expect(other).to_have_url(re.compile(r"/attempt$"))

    await other.get_by_label("Your answer").click()
    await other.keyboard.type("Saved from the laptop.")
    await other.keyboard.press("Tab")
    await expect(other.locator("#save-status")).to_have_text(SAVED)
    editor = page.get_by_label("Your answer")
    await editor.click()
    await page.keyboard.type("Typed in the old tab.")
    await page.keyboard.press("Tab")

    await expect(page.locator("#save-status")).to_have_text("Not saved")
    await expect(page.get_by_role("alert")).to_contain_text("changed in another tab or device")
    await expect(page.get_by_role("alert")).to_contain_text("Reload the page")
    await expect(editor).to_have_value("Typed in the old tab.")
    await snap(page, "candidate-attempt-stale")
    attempt = await stored_attempt(app_server, link)
    assert attempt.draft == "Saved from the laptop."


async def test_without_javascript_the_forms_still_post(
    app_server: AppServer, smtp: SmtpServer, browser: Browser
) -> None:
    link = await invite(app_server, smtp, "noel@example.com", "Noel Noscript")
    context = await browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        page = await context.new_page()
        await page.goto(link)
        await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
        await page.get_by_role("button", name=re.compile(r"^Start")).click()
        await expect(page.locator("#timer-value")).to_have_text("30 min")
        await page.get_by_label("Your answer").fill("Plain form post.\nSecond line.")
        await snap(page, "candidate-attempt-no-js")
        await page.get_by_role("button", name="Submit answer").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Submit your answer now?")
        await page.get_by_role("button", name="Submit now").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Thank you — your answer is in"
        )
    finally:
        await context.close()
    attempt = await stored_attempt(app_server, link)
    assert attempt.state == AttemptState.SUBMITTED
    assert attempt.final_answer == "Plain form post.\nSecond line."
