"""Prompt rotation in the browser: the pool on the screen form, and a lead retiring an
exposed prompt from the library page (axe and both widths on each)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect

from screen.recruiting import rotation
from tests.e2e.harness import AppServer, check_axe, sign_in, snap
from tests.support.factories import TEST_ACTOR, make_candidate, make_screen, make_user
from tests.support.rotation import make_variants


async def test_a_recruiter_sees_the_pool_and_a_lead_retires_a_prompt(
    start_server: Callable[..., AppServer], new_page: Callable[[AppServer], Awaitable[Page]]
) -> None:
    app_server = start_server()
    page = await new_page(app_server)
    async with app_server.db() as db:
        now = app_server.now()
        screen = await make_screen(db, now, title="Rotating backend screen")
        variants = await make_variants(db, now, "bc")
        await rotation.set_pool(db, screen, [p.id for p in variants], now=now, actor=TEST_ACTOR)
        await db.commit()
        for n in range(3):
            await make_candidate(
                db, app_server.settings, now, screen=screen, name=f"Cand {n}", email=f"c{n}@x.org"
            )
        recruiter = await make_user(db, now, "recruiter", email="rita@staff.example")
        lead = await make_user(db, now, "lead", email="lena@staff.example")
        screen_id = screen.id

    await sign_in(page, recruiter.email)
    await page.goto(f"/recruiter/screens/{screen_id}")
    await expect(page.get_by_text(re.compile(r"Rotating among 3 prompts: "))).to_be_visible()
    await page.goto(f"/recruiter/screens/{screen_id}/edit")
    pool = page.get_by_role("group", name="Rotation pool (optional)")
    await expect(pool.get_by_role("checkbox")).to_have_count(2)
    await expect(pool.get_by_role("checkbox", checked=True)).to_have_count(2)
    await snap(page, "screen-form-pool")
    await check_axe(page, "screen form with a rotation pool")

    page = await new_page(app_server)
    await sign_in(page, lead.email)
    await page.goto("/lead/prompts")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Prompt library")
    await snap(page, "prompt-library")
    await check_axe(page, "prompt library")
    variant = "Variant B: pick a vector store under a new budget, version 1"
    await page.get_by_role("button", name=f"Retire {variant}").click()
    await expect(page.get_by_role("status")).to_have_text(
        f"Saved: the rotation pools now leave out {variant}."
    )
    await expect(page.get_by_role("button", name=f"Restore {variant}")).to_be_visible()
    await snap(page, "prompt-library-retired")
    await check_axe(page, "prompt library after retiring")
