"""An admin decides a disputed submission in a lead's place, in a real browser (issue 15)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect
from sqlalchemy import select

from screen.platform.models import Invitation
from tests.e2e.harness import AppServer, check_axe, sign_in, snap
from tests.support.factories import make_submitted, make_user
from tests.support.reports import same, score


async def test_an_admin_decides_a_dispute_in_place_of_a_lead_with_a_reason(
    start_server: Callable[..., AppServer], new_page: Callable[[AppServer], Awaitable[Page]]
) -> None:
    app_server = start_server()
    page = await new_page(app_server)
    async with app_server.db() as db:
        now = app_server.now()
        reviewer = await make_user(db, now, "reviewer", email="ada@staff.example", name="Ada")
        lead = await make_user(db, now, "lead", email="lee@staff.example", name="Lee Lead")
        await make_user(db, now, "lead", email="max@staff.example", name="Max Other")
        admin = await make_user(db, now, "admin", email="ann@staff.example", name="Ann Admin")
        await make_submitted(db, app_server.settings, now, name="Dana Disputed")
        await score(db, reviewer, same(4), now, recommendation="strong_yes")
        await score(db, lead, same(2), now, recommendation="no")
        invitation = await db.scalar(select(Invitation.id))

    await sign_in(page, admin.email)
    await page.goto(f"{app_server.base_url}/recruiter/invitations/{invitation}")
    await page.get_by_role("link", name="Open the dispute").click()
    await expect(page).to_have_url(re.compile(r"/lead/attempts/\d+$"))
    await expect(page.locator("[data-admin-override]")).to_contain_text(
        "Leads who may decide this: Max Other (max@staff.example)."
    )
    await snap(page, "admin-override")
    await check_axe(page, "admin override")

    await page.get_by_label("Pass").check()
    await page.get_by_label("Reason (recorded in the audit log)").fill(
        "The 4s are backed by the cost arithmetic."
    )
    await page.get_by_label("Why you decide rather than a lead").fill(
        "Max is on leave and the SLA is due today."
    )
    await page.get_by_role("button", name="Record decision").click()
    await expect(page.locator(".decision-outcome")).to_have_text("Pass")
    await expect(page.locator(".decision")).to_contain_text("adjudicated by an admin")
    await snap(page, "admin-override-decided")
