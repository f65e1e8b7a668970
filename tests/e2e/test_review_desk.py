"""The review desk in a real browser, with realistic data: an answer of about 1,000 words
(a library exemplar), two near-copies of it from other candidates, two answered follow-up
questions, a composition record with a paste, focus losses and a co-reviewer.

At 1280 px the answer comes first with the scoring form beside it, staying in view while
the answer scrolls; at 390 px the answer, then the form. A reviewer scores one answer from
claim to submit with the keyboard alone, and is offered the next one. axe finds nothing,
of any impact, at either width; screenshots go to tests/artifacts/screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.async_api import Browser, Page, ViewportSize, expect
from sqlalchemy.ext.asyncio import AsyncSession

from screen.authorship.synthetic import typing_session
from screen.candidate import attempts, follow_ups
from screen.platform.models import IntegrityEvent
from screen.review import similar_answers
from tests.e2e.harness import (
    AXE,
    AXE_RESULTS,
    IMPACTS,
    SCREENSHOTS,
    AppServer,
    sign_in,
)
from tests.support.answers import paraphrase
from tests.support.composition import MINUTE, lose_focus, write_record
from tests.support.factories import Candidate, make_candidate, make_user, score_next
from tests.support.follow_ups import make_follow_up_screen
from tests.support.smtp import SmtpServer

REPO = Path(__file__).resolve().parents[2]
WIDE: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
DIMENSIONS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
HIDDEN = ("Avery", "Quillon", "avery.quillon", "pii-example", "Backend engineer, autumn")
FOLLOW_UP_ANSWERS = (
    "The 2% wrong rate I assumed for the small model on how-to questions. I would label "
    "200 how-to questions in week 1 and measure it before routing any traffic.",
    "Large-only with the reranker: it fits the budget today, and would win if the provider "
    "raised our rate limit above 2.5 M tokens a minute.",
)
CO_REVIEW_LEVELS = {
    "latency_vs_cost": 3,
    "accuracy_vs_speed": 3,
    "failure_modes": 2,
    "first_week": 3,
}


def library_answer() -> str:
    """The library's strong exemplar for the RAG support assistant: ~1,000 words."""
    data = yaml.safe_load((REPO / "prompts" / "rag-support-assistant.exemplars.yaml").read_text())
    [strong] = [e for e in data["exemplars"] if e["key"] == "strong"]
    answer: str = strong["answer"]
    assert 900 <= len(answer.split()) <= 1200
    return answer


@dataclass(frozen=True)
class Desk:
    server: AppServer
    reviewer: str  # claims the answer and looks at it
    scorer: str  # scores it with the keyboard
    answer: str


@pytest.fixture(scope="module")
def desk_server(smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    # A queue of its own: "Review next" must hand over the answer arranged here.
    server = AppServer(tmp_path_factory.mktemp("review-desk"), smtp.url).start()
    yield server
    server.stop()


async def _submit(db: AsyncSession, now: datetime, candidate: Candidate, answer: str) -> int:
    attempt = candidate.invitation.attempt
    started = now - timedelta(minutes=29)  # most of the 30 minutes used
    await attempts.start(db, attempt, candidate.invitation.invitation, candidate.screen, started)
    await attempts.submit(db, attempt.id, 0, answer, now, grace_seconds=60, max_bytes=65536)
    await db.commit()
    return attempt.id


@pytest.fixture(scope="module")
async def desk(desk_server: AppServer) -> Desk:
    server = desk_server
    answer = library_answer()
    async with server.db() as db:
        now = server.now()
        await make_user(db, now, "reviewer", email="dana@staff.example", name="Dana Desk")
        await make_user(db, now, "reviewer", email="kit@staff.example", name="Kit Keys")
        cole = await make_user(db, now, "reviewer", email="cole@staff.example", name="Cole")
        screen = await make_follow_up_screen(db, now, reviews_required=3)
        first = await make_candidate(
            db,
            server.settings,
            now,
            screen=screen,
            name="Avery Quillon",
            email="avery.quillon@pii-example.org",
        )
        first_id = await _submit(db, now, first, answer)
        copy_ids = []
        for n, share in ((1, 0.12), (2, 0.22)):
            copy = await make_candidate(
                db, server.settings, now, screen=screen, name=f"Copy {n}", email=f"c{n}@example.com"
            )
            copy_ids.append(await _submit(db, now, copy, paraphrase(answer, share, seed=n)))
        for position, text in enumerate(FOLLOW_UP_ANSWERS, start=1):
            await follow_ups.submit(
                db, first_id, position, 0, text, now + timedelta(minutes=position), grace_seconds=60
            )
            await db.commit()
        # The copies' follow-ups run out unanswered, which opens their review slots too.
        for minutes in (10, 20):
            await follow_ups.sweep(db, now + timedelta(minutes=minutes), 60)
            await db.commit()
        pasted = answer.index("## Generation")
        edits = typing_session(
            answer, seed=17, until_ms=28 * MINUTE, pastes=[(pasted, pasted + 420)]
        )
        attempt = await write_record(db, first, now, edits=edits)
        db.add(
            IntegrityEvent(
                attempt_id=first_id, kind="paste", size=420, occurred_at=now, recorded_at=now
            )
        )
        await db.commit()
        await lose_focus(db, attempt, 4 * MINUTE, 19 * MINUTE)
        for attempt_id in (first_id, *copy_ids):
            await similar_answers.check(db, attempt_id, now)
        await db.commit()
        # Another reviewer has already scored it (hidden until one's own review is in).
        assert await score_next(db, cole, CO_REVIEW_LEVELS, now) == first_id
    return Desk(server, "dana@staff.example", "kit@staff.example", answer)


async def _page(browser: Browser, server: AppServer) -> Page:
    context = await browser.new_context(viewport=WIDE, base_url=server.base_url)
    context.set_default_timeout(10_000)
    return await context.new_page()


async def axe_clean(page: Page, name: str) -> None:
    """axe-core on the page as it is, at this width: no violation of any impact."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    found: list[dict[str, Any]] = await page.evaluate("""async () => {
        const result = await axe.run(document, { resultTypes: ["violations"] });
        return result.violations.map((v) => ({
            id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
        }));
    }""")
    AXE_RESULTS[name] = {
        impact: [v["id"] for v in found if v["impact"] == impact] for impact in IMPACTS
    }
    assert found == [], f"axe on {name}: {found}"


async def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page)
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name}: {overflow}px wider than the window"


async def box(page: Page, selector: str) -> dict[str, float]:
    found = await page.locator(selector).bounding_box()
    assert found is not None, selector
    return dict(found)


async def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the focused element matches `selector`, as a keyboard user would."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def focused(page: Page) -> str:
    name: str = await page.evaluate("() => document.activeElement.getAttribute('name') || ''")
    return name


async def test_the_answer_comes_first_with_the_form_beside_it(desk: Desk, browser: Browser) -> None:
    page = await _page(browser, desk.server)
    await sign_in(page, desk.reviewer)
    await page.get_by_role("button", name="Review next").click()
    await expect(page).to_have_url(re.compile(r"/review/\d+$"))
    await expect(page.get_by_role("heading", name="Score against the rubric")).to_be_visible()
    html = await page.content()
    for secret in HIDDEN:
        assert secret not in html, secret

    # Everything beside the answer is folded below it, one line each.
    await expect(page.locator("#similar > summary")).to_have_text(
        re.compile(r"^Similar answers: 2 matches, highest \d\d% overlap$")
    )
    await expect(page.locator("#follow-ups > summary")).to_have_text(
        "Follow-up questions: 2 asked, 2 answered, context only"
    )
    await expect(page.locator("#integrity > summary")).to_have_text(
        "Integrity signals: 1 paste (largest 420 characters), focus lost 2 times"
    )
    await expect(page.locator("details.authorship .authorship-headline")).to_contain_text("paste")
    for fold in ("#similar", "#follow-ups", "#integrity", "details.authorship"):
        await expect(page.locator(fold)).not_to_have_attribute("open", "")

    answer = await box(page, "#the-answer")
    similar = await box(page, "#similar")
    form = await box(page, "#scoring")
    assert answer["y"] < 400, f"the answer starts {answer['y']}px down"
    assert answer["y"] + answer["height"] <= similar["y"], "the answer comes before the matches"
    assert form["x"] >= answer["x"] + answer["width"], "the form is beside the answer"
    assert form["y"] < answer["y"] + 200
    await shoot(page, "review-desk-1280")
    await axe_clean(page, "review desk 1280")

    # Halfway down the answer the form is still in view, scrolling inside itself.
    await page.evaluate("() => window.scrollTo(0, 2500)")
    form = await box(page, "#scoring")
    assert 0 <= form["y"] < 120 and form["y"] + form["height"] <= WIDE["height"], form
    await expect(page.locator("#scoring .desk-actions")).to_be_in_viewport()
    await shoot(page, "review-desk-1280-scrolled", full_page=False)

    # Opened, the matches show the overlapping passages side by side.
    await page.locator("#similar > summary").click()
    await expect(page.locator("#similar mark").first).to_be_visible()
    await shoot(page, "review-desk-similar-1280")
    await axe_clean(page, "review desk, similar answers open, 1280")
    await page.locator("#similar > summary").click()

    await page.set_viewport_size(PHONE)
    await page.evaluate("() => window.scrollTo(0, 0)")
    answer = await box(page, "#the-answer")
    form = await box(page, "#scoring")
    similar = await box(page, "#similar")
    assert answer["y"] + answer["height"] <= similar["y"] <= form["y"], "answer, folds, then form"
    await expect(page.get_by_role("link", name="Go to the scoring form")).to_be_visible()
    await shoot(page, "review-desk-390")
    await axe_clean(page, "review desk 390")

    # "Not now": the answer goes back to the queue, and the queue says so.
    await page.set_viewport_size(WIDE)
    await page.get_by_role("button", name="Return to the queue").click()
    await expect(page).to_have_url(re.compile(r"/review\?done=returned$"))
    await expect(page.get_by_role("status")).to_have_text("Returned to the queue.")
    await expect(page.locator(".desk-next-count")).to_have_text("3 answers waiting for you")
    await shoot(page, "review-queue-1280")
    await axe_clean(page, "review queue 1280")
    await page.set_viewport_size(PHONE)
    await shoot(page, "review-queue-390")
    await axe_clean(page, "review queue 390")
    await page.context.close()


async def test_a_reviewer_scores_from_claim_to_submit_with_the_keyboard(
    desk: Desk, browser: Browser
) -> None:
    page = await _page(browser, desk.server)
    await sign_in(page, desk.scorer)
    await tab_to(page, "button.primary")  # Review next, on the queue page
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/review/\d+$"))
    await expect(page.get_by_text("picks one")).to_be_visible()
    # Blind: the co-reviewer's scores are nowhere until this review is in.
    await expect(page.get_by_role("columnheader")).to_have_count(0)

    await tab_to(page, "a[href='#scoring']")
    await page.keyboard.press("Enter")
    levels = {
        "latency_vs_cost": "4",
        "accuracy_vs_speed": "3",
        "failure_modes": "3",
        "first_week": "2",
    }
    for key in DIMENSIONS:
        await page.keyboard.press("Tab")
        assert await focused(page) == f"level.{key}"
        await page.keyboard.press(levels[key])
        await expect(
            page.locator(f"input[name='level.{key}'][value='{levels[key]}']")
        ).to_be_checked()
        await page.keyboard.press("Tab")
        assert await focused(page) == f"evidence.{key}"
        await page.keyboard.type(f"Keyboard note on {key}: quotes the $11,180 routed cost.")
    await page.keyboard.press("Tab")
    assert await focused(page) == "recommendation"
    await page.keyboard.press("3")
    await expect(page.locator("input[name='recommendation'][value='yes']")).to_be_checked()
    await page.keyboard.press("Tab")
    assert await focused(page) == "probe"
    await page.keyboard.type("How was the 2% small-model error rate measured?")
    await page.keyboard.press("Tab")
    assert await focused(page) == "action"  # Save draft
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.textContent") == "Submit review"
    await page.keyboard.press("Enter")

    await expect(page.get_by_role("heading", name="Your review is submitted")).to_be_visible()
    table = page.get_by_role("table", name="Scores by dimension")
    await expect(table.get_by_role("columnheader")).to_have_text(
        ["Dimension", "Your review", "Review 1"]
    )
    await expect(table).to_contain_text("Keyboard note on failure_modes")
    await expect(
        table.get_by_role("row", name=re.compile("^Trade-off: latency vs cost"))
    ).to_contain_text("4")
    # The way on: what waits for this reviewer, one key press away.
    await expect(page.locator(".desk-next-count")).to_have_text("2 answers waiting for you")
    next_button = page.get_by_role("button", name="Review next")
    await expect(next_button).to_be_visible()
    await shoot(page, "review-next-1280")
    await axe_clean(page, "review next 1280")
    await page.set_viewport_size(PHONE)
    await page.evaluate("() => window.scrollTo(0, 0)")
    await shoot(page, "review-next-390")
    await axe_clean(page, "review next 390")
    await page.context.close()
