"""The prompt library in the browser: a lead uploads a prompt file (a broken one first,
refused with its problems listed), then previews the new version as a candidate sees it,
landing and attempt page with a countdown that runs in the page only (axe and both
widths on each)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from playwright.async_api import Page, expect
from sqlalchemy import func, select

from screen.platform.models import Attempt, Prompt
from tests.e2e.harness import AppServer, check_axe, sign_in, snap
from tests.support.factories import DATA, make_user

SAMPLE = (DATA / "prompts" / "sample-decision.md").read_text(encoding="utf-8")
TITLE = "Choose a vector store for a 2M-document search, under budget"


async def test_a_lead_uploads_a_prompt_file_and_previews_it(
    start_server: Callable[..., AppServer],
    new_page: Callable[[AppServer], Awaitable[Page]],
    tmp_path: Path,
) -> None:
    app_server = start_server()
    page = await new_page(app_server)
    async with app_server.db() as db:
        lead = await make_user(db, app_server.now(), "lead", email="lia@staff.example")
    good = tmp_path / "vector-store-under-budget.md"
    good.write_text(
        SAMPLE.replace("Pick a vector store for a 2M-document search feature", TITLE),
        encoding="utf-8",
    )
    broken = tmp_path / "broken-prompt.md"
    broken.write_text(SAMPLE.replace("    pass_threshold: 2.75\n", ""), encoding="utf-8")

    await sign_in(page, lead.email)
    await page.goto("/lead/prompts")
    await page.get_by_role("link", name="Upload a prompt file").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Upload a prompt file")

    # A broken file: refused, every problem listed, nothing saved.
    await page.get_by_label("Prompt file (.md)").set_input_files(broken)
    await page.get_by_role("button", name="Check and save").click()
    await expect(page.get_by_role("alert")).to_contain_text("Nothing was changed")
    await expect(page.locator("#file-problems")).to_contain_text(
        "rubric.decision.pass_threshold: missing or not a number from 1 to 4"
    )
    await snap(page, "prompt-upload-refused")
    await check_axe(page, "prompt upload refused")

    await page.get_by_label("Prompt file (.md)").set_input_files(good)
    await page.get_by_role("button", name="Check and save").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved as version 1.")
    await expect(
        page.get_by_role("heading", name="The rubric, as reviewers see it")
    ).to_be_visible()
    level = page.get_by_role("group", name=re.compile("Trade-off: latency vs cost"))
    await expect(level.get_by_role("radio").first).to_be_disabled()
    await snap(page, "prompt-version")
    await check_axe(page, "prompt version and its rubric")

    await page.get_by_role("link", name="Preview as a candidate").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    await expect(page.get_by_text("Preview — nothing is saved.")).to_be_visible()
    await snap(page, "prompt-preview-landing")
    await check_axe(page, "prompt preview, landing")

    await page.get_by_label("I have read the AI-use policy above and will follow it.").check()
    await page.get_by_role("button", name=re.compile("^Start")).click()
    await expect(page.get_by_text("Preview — nothing is saved.")).to_be_visible()
    timer = page.locator("#timer-value")
    await expect(timer).to_have_text(re.compile(r"^(30:00|29:5\d)$"))
    first = await timer.text_content()
    await expect(timer).not_to_have_text(first or "", timeout=3000)  # it counts down
    await page.get_by_label("Your answer").fill("We choose pgvector: p95 stays under 300 ms.")
    await page.get_by_role("button", name="Submit answer").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "This is a preview: nothing was submitted or saved."
    )
    await snap(page, "prompt-preview-attempt")
    await check_axe(page, "prompt preview, attempt page")

    await page.goto("/lead/prompts")
    await expect(page.get_by_text("In the browser").first).to_be_visible()
    await snap(page, "prompt-library-browse")

    async with app_server.db() as db:
        assert await db.scalar(select(func.count()).select_from(Attempt)) == 0
        saved = list(await db.scalars(select(Prompt).where(Prompt.source == "ui")))
    assert [(p.slug, p.version, p.created_by) for p in saved] == [
        ("vector-store-under-budget", 1, "lia@staff.example")
    ]
