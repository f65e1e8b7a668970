"""The composition record in a real browser: what a candidate types, pastes and corrects in
Chromium is stored batch by batch and replays exactly to the answer they submit."""

from __future__ import annotations

import json
import re
from itertools import pairwise

from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import update

from reviewers.composition import parse_events, replay
from screen.platform.models import Attempt, AttemptState
from tests.e2e.harness import AppServer, check_axe, invite, snap, stored_attempt
from tests.support.recording import stored_batches
from tests.support.smtp import SmtpServer

SAVED = re.compile(r"^Saved \d")
PASTED = "Notes I kept: p95 under 300 ms at 50 qps.\nCost about $900 a month.\n"


async def test_typing_pasting_and_editing_replay_exactly_to_the_submitted_answer(
    app_server: AppServer, smtp: SmtpServer, context: BrowserContext, page: Page
) -> None:
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    link = await invite(app_server, smtp, "rosa@example.com", "Rosa Record")
    await page.goto(link)
    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    editor = page.get_by_label("Your answer")
    status = page.locator("#save-status")
    await editor.click()

    await page.keyboard.type("## Decision\nUse pgvector", delay=5)
    await page.keyboard.press("Tab")  # leaving the editor saves at once
    await expect(status).to_have_text(SAVED)

    await editor.click()
    await page.keyboard.press("ControlOrMeta+End")
    await page.keyboard.type(".\n", delay=5)
    await page.evaluate("text => navigator.clipboard.writeText(text)", PASTED)
    await page.keyboard.press("ControlOrMeta+V")
    # Correct a word in the middle: select "pgvector" and type over it.
    await page.keyboard.press("ControlOrMeta+Home")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("End")
    await page.keyboard.press("ArrowLeft")
    for _ in range(len("pgvector")):
        await page.keyboard.press("Shift+ArrowLeft")
    await page.keyboard.type("pgvector (HNSW)", delay=5)
    await page.keyboard.press("ControlOrMeta+End")
    await page.keyboard.type("Risk: recall", delay=5)
    await page.keyboard.press("Backspace")
    await page.keyboard.press("Backspace")
    await page.keyboard.insert_text("ll 🚀")  # an emoji: two UTF-16 units
    await page.keyboard.press("Tab")
    await expect(status).to_have_text(SAVED)
    await editor.click()
    await page.keyboard.press("ControlOrMeta+End")
    await page.keyboard.type(" ok", delay=5)  # left for the submit's own batch
    answer = await editor.input_value()

    await page.get_by_role("button", name="Submit answer").click()
    await page.get_by_role("dialog").get_by_role("button", name="Submit now").click()
    await expect(page).to_have_url(re.compile(r"/done$"))

    attempt = await stored_attempt(app_server, link)
    assert attempt.state == AttemptState.SUBMITTED
    assert attempt.final_answer == answer
    assert answer.startswith("## Decision\nUse pgvector (HNSW).\n" + PASTED)
    async with app_server.db() as db:
        batches = await stored_batches(db, attempt.id)
    assert [b.seq for b in batches] == list(range(1, len(batches) + 1))
    assert len(batches) >= 3  # two autosaves and the submit
    edits = [edit for batch in batches for edit in parse_events(json.loads(batch.events))]
    assert replay(edits) == attempt.final_answer
    pastes = [edit for edit in edits if edit.pasted]
    assert [paste.inserted for paste in pastes] == [PASTED]
    assert all(later.t >= earlier.t for earlier, later in pairwise(edits))
    assert attempt.composition_seq == batches[-1].seq and attempt.composition_capped_at is None


async def test_a_full_record_says_so_in_one_calm_line_and_the_answer_still_saves(
    app_server: AppServer, smtp: SmtpServer, page: Page
) -> None:
    link = await invite(app_server, smtp, "cal@example.com", "Cal Capped")
    await page.goto(link)
    await page.get_by_role("checkbox", name=re.compile("AI-use policy")).check()
    await page.get_by_role("button", name=re.compile(r"^Start")).click()
    editor = page.get_by_label("Your answer")
    await editor.click()
    await page.keyboard.type("Recorded part. ", delay=5)
    await page.keyboard.press("Tab")
    await expect(page.locator("#save-status")).to_have_text(SAVED)
    line = page.get_by_text("The record of how this answer was written is full")
    await expect(line).to_be_hidden()
    attempt = await stored_attempt(app_server, link)
    async with app_server.db() as db:
        # As if the cap had been reached: the server stops storing batches from here on.
        await db.execute(
            update(Attempt)
            .where(Attempt.id == attempt.id)
            .values(composition_capped_at=app_server.now())
        )
        await db.commit()

    await page.reload()
    await expect(line).to_be_visible()
    await snap(page, "candidate-attempt-record-full")
    await check_axe(page, "candidate attempt, record full")
    await editor.click()
    await page.keyboard.press("ControlOrMeta+End")
    await page.keyboard.type("Not recorded, still saved.", delay=5)
    await page.keyboard.press("Tab")
    await expect(page.locator("#save-status")).to_have_text(SAVED)
    await page.get_by_role("button", name="Submit answer").click()
    await page.get_by_role("dialog").get_by_role("button", name="Submit now").click()
    await expect(page).to_have_url(re.compile(r"/done$"))

    after = await stored_attempt(app_server, link)
    assert after.final_answer == "Recorded part. Not recorded, still saved."
    assert after.composition_seq == attempt.composition_seq >= 1
    async with app_server.db() as db:
        edits = [
            edit
            for batch in await stored_batches(db, attempt.id)
            for edit in parse_events(json.loads(batch.events))
        ]
    assert replay(edits) == "Recorded part. "
