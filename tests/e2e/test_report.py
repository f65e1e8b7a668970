"""A hiring manager reads decided candidates in the browser: their home, the screen's
comparison table and one report (axe at desktop and phone width, screenshots)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect

from screen.recruiting.screens import assign_hiring_manager
from tests.e2e.harness import AppServer, check_axe, sign_in, snap
from tests.support.factories import TEST_ACTOR, make_screen, make_submitted, make_user, score_next

KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
ANSWER = (
    "## Decision\n\nWe choose **pgvector** with HNSW: p95 stays under 300 ms at 50 qps and it "
    "costs about $900 a month, well inside the $4,000 budget.\n\n## Rejected\n\nA managed "
    "vector database: $2,600 a month at this corpus size, for latency we do not need."
)


async def test_a_hiring_manager_shortlists_from_the_comparison_and_reads_a_report(
    start_server: Callable[..., AppServer], new_page: Callable[[AppServer], Awaitable[Page]]
) -> None:
    # A queue of its own: the reviewers below must claim exactly these answers.
    app_server = start_server()
    page = await new_page(app_server)
    async with app_server.db() as db:
        now = app_server.now()
        screen = await make_screen(db, now, title="Platform engineers, report check")
        manager = await make_user(db, now, "hiring_manager", email="hana@staff.example")
        first = await make_user(db, now, "reviewer", email="rui@staff.example", name="Rui")
        second = await make_user(db, now, "reviewer", email="vera@staff.example", name="Vera")
        for name, levels in (("Grace Report", 4), ("Alan Report", 3), ("Edsger Report", 1)):
            await make_submitted(
                db, app_server.settings, now, screen=screen, name=name, answer=ANSWER
            )
            for reviewer in (first, second):
                await score_next(db, reviewer, dict.fromkeys(KEYS, levels), now)
        await assign_hiring_manager(db, screen, manager.email, actor=TEST_ACTOR, now=now)
        await db.commit()

    await sign_in(page, manager.email)
    await expect(page).to_have_url(re.compile(r"/hiring$"))
    await expect(page.locator("main")).to_contain_text("Platform engineers, report check")
    await snap(page, "hiring-manager-home")
    await check_axe(page, "hiring manager home")

    await page.goto(f"/reports/screens/{screen.id}")
    rows = page.locator("main table tbody tr")
    await expect(rows).to_have_count(3)
    await expect(page.locator("main")).to_contain_text("Grace Report")
    await snap(page, "report-comparison")
    await check_axe(page, "report comparison")

    await page.get_by_role("link", name="Grace Report").first.click()
    await expect(page).to_have_url(re.compile(r"/reports/\d+$"))
    main = page.locator("main")
    await expect(main).to_contain_text("We choose pgvector")
    await expect(main).to_contain_text("pass")
    await expect(main).to_contain_text("Rui")
    chart = page.locator("img.chart")
    await expect(chart).to_have_js_property("complete", True)
    assert await chart.evaluate("img => img.naturalWidth") > 0, "the chart did not load"
    await snap(page, "report")
    await check_axe(page, "report")
