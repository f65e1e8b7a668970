"""Two reviewers score one answer blind in real browsers, then see each other's review."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect

from tests.e2e.harness import AppServer, check_axe, sign_in, snap
from tests.support.factories import make_submitted, make_user

ANSWER = (
    "## Decision\n\nWe choose **pgvector** with HNSW: p95 stays under 300 ms at 50 qps "
    "and it costs about $900 a month, well inside the $4,000 budget."
)


async def score_every_dimension(page: Page, level: str) -> None:
    keys: list[str] = await page.locator("textarea[name^='evidence.']").evaluate_all(
        "els => els.map(el => el.name.slice('evidence.'.length))"
    )
    assert len(keys) == 4, keys  # the test prompt's rubric
    for key in keys:
        await page.locator(f"input[name='level.{key}'][value='{level}']").check()
        await page.locator(f"textarea[name='evidence.{key}']").fill(
            "Compares p95 latency and monthly cost with the scenario's numbers."
        )
    await page.get_by_label("Yes", exact=True).check()


async def test_two_reviewers_score_blind_and_then_see_each_other(
    start_server: Callable[..., AppServer], new_page: Callable[[AppServer], Awaitable[Page]]
) -> None:
    # A queue of its own: "Review next" must hand both reviewers this one answer.
    app_server = start_server()
    page = await new_page(app_server)
    async with app_server.db() as db:
        now = app_server.now()
        first = await make_user(db, now, "reviewer", email="riley@staff.example", name="Riley")
        second = await make_user(db, now, "reviewer", email="robin@staff.example", name="Robin")
        await make_submitted(
            db,
            app_server.settings,
            now,
            name="Charlotte Hidden",
            email="hidden@example.com",
            answer=ANSWER,
        )

    await sign_in(page, first.email)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    await snap(page, "reviewer-queue")
    await check_axe(page, "reviewer queue")
    await page.get_by_role("button", name="Review next").click()
    await expect(page).to_have_url(re.compile(r"/review/\d+$"))
    await expect(page.get_by_role("heading", name="Score against the rubric")).to_be_visible()
    await expect(page.locator(".candidate-answer")).to_contain_text("We choose pgvector")
    body = await page.locator("body").inner_text()
    assert "Charlotte" not in body and "hidden@example.com" not in body, "not blind"
    await snap(page, "reviewer-scoring")
    await check_axe(page, "reviewer scoring")

    await score_every_dimension(page, "3")
    await page.get_by_role("button", name="Submit review").click()
    await expect(page.get_by_role("heading", name="Your review is submitted")).to_be_visible()
    await expect(
        page.get_by_text("The decision is made when every required review is in.")
    ).to_be_visible()
    await expect(page.get_by_role("columnheader", name="Your review")).to_have_count(1)

    reviews = re.compile(r"^(Your review|Review \d)$")
    other = await new_page(app_server)
    await sign_in(other, second.email)
    await other.get_by_role("button", name="Review next").click()
    await expect(other.get_by_role("heading", name="Score against the rubric")).to_be_visible()
    # Blind until their own review is in: the first review is nowhere on the page.
    await expect(other.get_by_role("columnheader", name=reviews)).to_have_count(0)
    await score_every_dimension(other, "4")
    await other.get_by_role("button", name="Submit review").click()
    await expect(other.get_by_role("heading", name="Your review is submitted")).to_be_visible()
    await expect(other.get_by_role("columnheader", name=reviews)).to_have_count(2)

    await page.reload()
    await expect(page.get_by_role("columnheader", name=reviews)).to_have_count(2)
    await expect(page.locator(".decision-outcome")).to_have_text("Pass")
    await snap(page, "reviewer-both-reviews")
    await check_axe(page, "reviewer submitted")
