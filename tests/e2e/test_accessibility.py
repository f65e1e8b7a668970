"""Keyboard-only use, what a screen reader hears from the countdown, reduced motion, and the
sign-in and error pages (axe-core on each; the flows' own pages are checked in their tests)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select, text, update

from screen.accounts.api_keys import create_api_key
from screen.pipeline.webhooks import create_endpoint
from screen.platform.models import OutboxEvent, WebhookAttempt
from screen.recruiting.invitations import find_by_token, withdraw
from tests.e2e.harness import (
    AppServer,
    check_axe,
    invite,
    sign_in,
    snap,
    stored_attempt,
)
from tests.support.factories import TEST_ACTOR, make_candidate, make_user
from tests.support.smtp import SmtpServer, free_port

CLOCK_TEXT = re.compile(r"^(\d+):(\d\d)$")
FOCUSED = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    return {
        tag: el.tagName.toLowerCase(), id: el.id, text: (el.innerText || "").trim(),
        outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    };
}"""


async def tab_to(page: Page, want: str, limit: int = 12) -> dict[str, object]:
    """Press Tab until the focused element's id or text is `want`; return what has focus."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused: dict[str, object] = await page.evaluate(FOCUSED)
        if want in (focused["id"], focused["text"]):
            assert focused["outline"], f"{want} has focus but no visible focus outline"
            return focused
    raise AssertionError(f"{want!r} not reached with {limit} presses of Tab")


async def test_the_candidate_flow_works_with_the_keyboard_alone(
    app_server: AppServer, smtp: SmtpServer, page: Page
) -> None:
    link = await invite(app_server, smtp, "kim@example.com", "Kim Keyboard")
    await page.goto(link)

    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_in_viewport()
    await tab_to(page, "acknowledge")
    await page.keyboard.press("Space")
    await tab_to(page, "Start — 30 minutes")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/attempt$"))

    await tab_to(page, "answer")
    await page.keyboard.type("Typed without a mouse.")
    await tab_to(page, "Submit answer")  # leaving the editor saves it
    await expect(page.locator("#save-status")).to_have_text(re.compile(r"^Saved"))
    await page.keyboard.press("Enter")
    # The confirmation opens on "Keep writing"; the next button submits.
    await expect(page.get_by_role("button", name="Keep writing")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Submit now")).to_be_focused()
    await page.keyboard.press("Enter")

    await expect(page.get_by_role("heading", level=1)).to_have_text("Thank you — your answer is in")
    attempt = await stored_attempt(app_server, link)
    assert attempt.final_answer == "Typed without a mouse."


async def test_the_countdown_is_announced_at_10_5_and_1_minutes_not_every_second(
    app_server: AppServer, smtp: SmtpServer, context: BrowserContext, page: Page
) -> None:
    link = await invite(app_server, smtp, "sara@example.com", "Sara Screenreader")
    await page.clock.install()
    await page.goto(link)
    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    timer = page.locator("#timer-value")
    await expect(timer).to_have_text(CLOCK_TEXT)
    announcer = page.locator("#timer-announcer")
    await expect(announcer).to_have_attribute("aria-live", "polite")
    await expect(timer).to_have_attribute("aria-live", "off")
    # Every change to the live region is something a screen reader would say.
    await announcer.evaluate(
        """el => {
            window.heard = [];
            new MutationObserver(() => window.heard.push(el.textContent))
                .observe(el, { childList: true, characterData: true, subtree: true });
        }"""
    )
    # Online, the page resynchronises with the server's real clock every minute and
    # would undo the fake one; offline it counts down on its own, which is what we move.
    await context.set_offline(True)

    async def left() -> int:
        match = CLOCK_TEXT.match(await timer.inner_text())
        assert match
        return int(match.group(1)) * 60 + int(match.group(2))

    async def run_until(seconds_left: int) -> list[str]:
        await page.clock.run_for((await left() - seconds_left) * 1000)
        assert await left() == seconds_left
        heard: list[str] = await page.evaluate("() => window.heard")
        return heard

    assert await run_until(10 * 60 + 2) == []
    assert await run_until(10 * 60 - 2) == ["10 minutes left."]
    assert await run_until(5 * 60 + 2) == ["10 minutes left."]
    assert await run_until(5 * 60 - 2) == ["10 minutes left.", "5 minutes left."]
    await expect(page.locator("#timer")).to_have_attribute("data-urgency", "low")
    assert await run_until(60 + 2) == ["10 minutes left.", "5 minutes left."]
    assert await run_until(60 - 2) == ["10 minutes left.", "5 minutes left.", "1 minute left."]
    await expect(page.locator("#timer")).to_have_attribute("data-urgency", "critical")
    assert await run_until(5) == ["10 minutes left.", "5 minutes left.", "1 minute left."]
    await expect(announcer).to_have_text("1 minute left.")


async def test_motion_is_off_for_people_who_ask_for_reduced_motion(
    app_server: AppServer, smtp: SmtpServer, page: Page
) -> None:
    link = await invite(app_server, smtp, "remy@example.com", "Remy Reduced")
    await page.goto(link)
    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    status = page.locator("#save-status")

    async def transition() -> str:
        duration: str = await status.evaluate("el => getComputedStyle(el).transitionDuration")
        return duration

    await page.emulate_media(reduced_motion="no-preference")
    assert await transition() != "0s"
    await page.emulate_media(reduced_motion="reduce")
    assert await transition() == "0s"


async def expect_error_page(page: Page, status: int, title: str, name: str) -> None:
    await expect(page.get_by_role("heading", level=1)).to_have_text(title)
    await expect(page.get_by_text(f"Error {status}")).to_be_visible()
    # Styled like every other page: our stylesheet loaded despite the error.
    card = page.locator(".card")
    assert await card.evaluate("el => getComputedStyle(el).borderRadius") == "8px"
    await snap(page, name)
    await check_axe(page, name.replace("-", " "))


async def test_sign_in_and_error_pages_are_accessible_in_the_same_style(
    app_server: AppServer, smtp: SmtpServer, browser: Browser, page: Page
) -> None:
    async with app_server.db() as db:
        reviewer = await make_user(db, app_server.now(), "reviewer", email="rae@staff.example")

    response = await page.goto("/s/this-is-not-a-real-link")
    assert response is not None and response.status == 404
    await expect_error_page(page, 404, "Page not found", "error-404")

    await page.goto("/signin")
    await snap(page, "staff-sign-in")
    await check_axe(page, "staff sign-in")
    await sign_in(page, reviewer.email)
    response = await page.goto("/recruiter")
    assert response is not None and response.status == 403
    await expect_error_page(page, 403, "You do not have access to this page", "error-403")

    link = await invite(app_server, smtp, "wes@example.com", "Wes Withdrawn")
    async with app_server.db() as db:
        invitation = await find_by_token(db, link.rsplit("/", 1)[1], with_prompt=False)
        assert invitation is not None
        await withdraw(db, invitation, app_server.now(), reason="Test", actor=TEST_ACTOR)
        await db.commit()
    response = await page.goto(link)
    assert response is not None and response.status == 410
    await expect_error_page(page, 410, "This link is no longer active", "error-410")

    link = await invite(app_server, smtp, "len@example.com", "Len Long")
    await page.goto(link)
    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    await page.get_by_label("Your answer").fill("far too long " * 6000)
    await expect(page.locator("#counter")).to_have_attribute("data-state", "over")
    async with page.expect_response(lambda r: r.url.endswith("/submit")) as submitted:
        await page.get_by_role("button", name="Submit answer").click()
        await page.get_by_role("dialog").get_by_role("button", name="Submit now").click()
    assert (await submitted.value).status == 413
    await expect_error_page(page, 413, "That was too large", "error-413")
    await page.get_by_role("link", name="Back to your exercise").click()
    await expect(page.get_by_label("Your answer")).to_be_visible()


async def test_a_server_error_page_is_calm_and_styled(
    start_server: Callable[..., AppServer],
    new_page: Callable[[AppServer], Awaitable[Page]],
    smtp: SmtpServer,
) -> None:
    """A real 500 from a real server whose database has lost a table."""
    server = start_server()
    link = await invite(server, smtp, "eve@example.com", "Eve Error")
    async with server.db() as db:
        await db.execute(text("ALTER TABLE prompts RENAME TO prompts_lost"))
        await db.commit()
    page = await new_page(server)

    response = await page.goto(link)

    assert response is not None and response.status == 500
    await expect_error_page(page, 500, "Something went wrong on our side", "error-500")
    await expect(page.get_by_text("everything acknowledged as saved is stored")).to_be_visible()


async def test_the_lead_and_admin_pages_are_accessible(app_server: AppServer, page: Page) -> None:
    """The pages a lead and an admin use: adjudication queue, agreement, leaked answers,
    calibration, webhooks, API keys and the outbox (axe at both widths, screenshots)."""
    async with app_server.db() as db:
        lead = await make_user(db, app_server.now(), "lead", email="lee@staff.example")
        admin = await make_user(db, app_server.now(), "admin", email="ada@staff.example")

    await sign_in(page, lead.email)
    lead_pages = [
        ("/lead", "lead adjudication queue", "Adjudication"),
        ("/lead/agreement", "lead agreement", "agreement"),
        ("/lead/leaks", "lead leaked answers", "leak"),
        ("/review/calibration/sample-decision", "reviewer calibration", "Calibrat"),
    ]
    for path, name, words in lead_pages:
        response = await page.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        await expect(page.locator("main")).to_contain_text(re.compile(words, re.IGNORECASE))
        await snap(page, re.sub(r"[^a-z0-9]+", "-", name))
        await check_axe(page, name)

    # Pages with rows in them, the way an admin sees them after a while: an endpoint whose
    # receiver is down (a failed delivery in its log), two API keys, a dead event.
    async with app_server.db() as db:
        endpoint, _ = await create_endpoint(
            db,
            url=f"http://127.0.0.1:{free_port()}/a/rather/long/path/to/the/hooks/receiver",
            events=["invitation.sent", "attempt.submitted", "decision.made"],
            now=app_server.now(),
            secret_key=app_server.settings.secret_key,
            description="Greenhouse production hooks",
        )
        for name in ("Greenhouse production", "Lever sandbox for the integration team"):
            await create_api_key(db, name, admin, app_server.now())
        await db.commit()
        await make_candidate(
            db, app_server.settings, app_server.now(), name="Ola Admin", email="ola@example.com"
        )
        await db.execute(
            update(OutboxEvent)
            .where(OutboxEvent.kind == "invitation.email")
            .values(status="dead", tries=10, last_error="SMTP said 550: mailbox unavailable")
        )
        await db.commit()
    for _ in range(50):  # the server's runner tries the delivery within a second or two
        async with app_server.db() as db:
            if await db.scalar(select(WebhookAttempt.id).limit(1)):
                break
        await asyncio.sleep(0.2)

    await page.goto("/signin")
    await sign_in(page, admin.email)
    for path, name, words in (
        ("/admin/webhooks", "admin webhooks", "webhook"),
        (f"/admin/webhooks/{endpoint.id}", "admin webhook deliveries", "deliver"),
        ("/admin/api-keys", "admin API keys", "key"),
        ("/admin/outbox", "admin outbox", "outbox|events"),
    ):
        response = await page.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        await expect(page.locator("main")).to_contain_text(re.compile(words, re.IGNORECASE))
        await snap(page, re.sub(r"[^a-z0-9]+", "-", name))
        await check_axe(page, name)
