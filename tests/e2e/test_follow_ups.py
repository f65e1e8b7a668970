"""Follow-up questions in a real browser: after the answer, one question at a time with
its own countdown, paste refused (and recorded), then the thank-you page; under axe,
with screenshots at 1280, 390 and 360 px."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import select

from screen.candidate import attempts, follow_ups
from screen.platform.models import FollowUpAnswer, IntegrityEvent
from tests.e2e.harness import (
    DESKTOP,
    SCREENSHOTS,
    AppServer,
    check_axe,
    invitation_link,
    sign_in,
    snap,
    stored_attempt,
)
from tests.support.factories import make_candidate, make_user
from tests.support.follow_ups import FIRST_QUESTION, SECOND_QUESTION, make_follow_up_screen
from tests.support.smtp import SmtpServer

PASTED = "A paragraph written somewhere else entirely."


async def snap_390(page: Page, name: str) -> None:
    """The issue's phone width, beside the harness's 360 px."""
    await page.set_viewport_size({"width": 390, "height": 844})
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    await page.screenshot(path=SCREENSHOTS / f"{name}-390.png", full_page=True)
    await page.set_viewport_size(DESKTOP)
    assert overflow <= 0, f"{name}: {overflow}px wider than a 390px screen"


async def test_a_candidate_answers_the_follow_ups_and_cannot_paste(
    app_server: AppServer, smtp: SmtpServer, context: BrowserContext, page: Page
) -> None:
    async with app_server.db() as db:
        screen = await make_follow_up_screen(db, app_server.now(), title="Follow-ups in a browser")
        await make_candidate(
            db,
            app_server.settings,
            app_server.now(),
            screen=screen,
            name="Fiona Followup",
            email="fiona@example.com",
        )
    link = await invitation_link(smtp.inbox, "fiona@example.com")
    await context.grant_permissions(["clipboard-read", "clipboard-write"])

    await page.goto(link)
    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    await page.get_by_label("Your answer").fill("pgvector with HNSW; p95 under 300 ms.")
    await page.get_by_role("button", name="Submit answer").click()
    await page.get_by_role("dialog").get_by_role("button", name="Submit now").click()

    await expect(page).to_have_url(re.compile(r"/follow-up$"))
    await expect(page.get_by_text("Follow-up question 1 of 2")).to_be_visible()
    editor = page.get_by_label(FIRST_QUESTION)
    await expect(editor).to_be_focused()
    await expect(page.locator("#timer-value")).to_have_text(re.compile(r"^[23]:\d\d$"))

    # A real paste from the clipboard: refused, said, and recorded.
    await page.evaluate("text => navigator.clipboard.writeText(text)", PASTED)
    await page.keyboard.type("The recall for German questions. ")
    await page.keyboard.press("ControlOrMeta+V")
    notice = page.get_by_role("alert")
    await expect(notice).to_contain_text("Pasting is turned off")
    await expect(editor).to_have_value("The recall for German questions. ")
    await page.keyboard.type("I'd measure it per language first.")
    await expect(page.locator("#save-status")).to_have_text(
        re.compile(r"^Saved \d"), timeout=15_000
    )
    await snap(page, "candidate-follow-up")
    await snap_390(page, "candidate-follow-up")
    await check_axe(page, "candidate follow-up")

    await page.get_by_role("button", name="Submit and go to the next question").click()
    # Ending a question early cannot be undone: asked first, as for the main answer.
    dialog = page.get_by_role("dialog", name="Submit now?")
    await expect(dialog.locator("#submit-dialog-text")).to_have_text(
        re.compile(r"^You have (\d+ minutes?|less than a minute) left\. Submit now\?$")
    )
    await snap(page, "submit-confirm-follow-up")
    await check_axe(page, "candidate follow-up, submit dialog")
    await dialog.get_by_role("button", name="Submit now").click()
    await expect(page.get_by_text("Follow-up question 2 of 2")).to_be_visible()
    await page.get_by_label(SECOND_QUESTION).fill("BM25 alone, if recall held on the labelled set.")
    await snap(page, "candidate-follow-up-last")
    await check_axe(page, "candidate follow-up, last question")
    await page.get_by_role("button", name="Submit and finish").click()
    await page.get_by_role("dialog").get_by_role("button", name="Submit now").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Thank you — your answer is in")

    attempt = await stored_attempt(app_server, link)
    assert attempt.follow_ups_ended_at is not None
    async with app_server.db() as db:
        answers = list(
            await db.scalars(
                select(FollowUpAnswer)
                .where(FollowUpAnswer.attempt_id == attempt.id)
                .order_by(FollowUpAnswer.position)
            )
        )
        refused = list(
            await db.scalars(
                select(IntegrityEvent.size).where(
                    IntegrityEvent.attempt_id == attempt.id,
                    IntegrityEvent.kind == "paste_refused",
                )
            )
        )
    assert [a.final_answer for a in answers] == [
        "The recall for German questions. I'd measure it per language first.",
        "BM25 alone, if recall held on the labelled set.",
    ]
    assert [a.paste_attempts for a in answers] == [1, 0]
    assert refused == [len(PASTED)]


async def test_a_reviewer_reads_the_follow_ups_beside_the_answer(
    start_server: Callable[..., AppServer], new_page: Callable[[AppServer], Awaitable[Page]]
) -> None:
    server = start_server()  # a queue of its own: "Review next" must hand over this answer
    page = await new_page(server)
    async with server.db() as db:
        now = server.now()
        reviewer = await make_user(db, now, "reviewer", email="rhea@staff.example")
        screen = await make_follow_up_screen(db, now)
        candidate = await make_candidate(
            db, server.settings, now, screen=screen, name="Hidden Person", email="hp@example.com"
        )
        attempt = candidate.invitation.attempt
        await attempts.start(db, attempt, candidate.invitation.invitation, screen, now)
        await attempts.submit(
            db, attempt.id, 0, "pgvector with HNSW.", now, grace_seconds=60, max_bytes=65536
        )
        await follow_ups.record_paste_refused(db, attempt.id, 1, 120, now)
        await follow_ups.submit(
            db, attempt.id, 1, 0, "Recall <b>per</b> language.", now, grace_seconds=60
        )
        await db.commit()
        # The second question's clock runs out with nothing written.
        await follow_ups.sweep(db, now + timedelta(minutes=3, seconds=62), 60)
        await db.commit()

    await sign_in(page, reviewer.email)
    await page.get_by_role("button", name="Review next").click()
    await expect(page).to_have_url(re.compile(r"/review/\d+$"))
    # Folded below the answer, its summary saying what is inside.
    fold = page.locator("#follow-ups > summary")
    await expect(fold).to_have_text("Follow-up questions: 2 asked, 1 answered, context only")
    await fold.click()
    section = page.get_by_role("region", name="Follow-up questions about the answer")
    await expect(section).to_contain_text(FIRST_QUESTION)
    await expect(section).to_contain_text("Recall <b>per</b> language.")
    await expect(section).to_contain_text("Not answered")
    await expect(section).to_contain_text("1 paste attempt refused")
    await expect(section).to_contain_text("0 s of 3 min")
    body = await page.locator("body").inner_text()
    assert "Hidden Person" not in body and "hp@example.com" not in body
    await snap(page, "reviewer-follow-ups")
    await snap_390(page, "reviewer-follow-ups")
    await check_axe(page, "reviewer scoring with follow-ups")
