"""A failing model server as a lead and an admin see it in the browser: the agreement page,
the model rater page and the probe card at desktop and phone widths, with axe-core."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect
from sqlalchemy import select

from screen.platform.models import OutboxEvent, Prompt
from screen.settings import Settings
from tests.e2e.harness import AppServer, check_axe, sign_in, snap
from tests.support.factories import make_screen, make_submitted, make_user
from tests.support.smtp import free_port


async def failed_once(server: AppServer, kind: str) -> None:
    """Wait for the server's own runner to fail a try of an event of `kind`."""
    for _ in range(200):
        async with server.db() as db:
            error = await db.scalar(
                select(OutboxEvent.last_error).where(
                    OutboxEvent.kind == kind, OutboxEvent.last_error.is_not(None)
                )
            )
        if error:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind} try failed:\n{server.log_tail()}")


async def no_overflow_at(page: Page, width: int) -> None:
    await page.set_viewport_size({"width": width, "height": 800})
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url}: {overflow}px wider than {width}px"


async def test_a_lead_sees_the_unreachable_model_and_the_failing_probe(
    start_server: Callable[..., AppServer],
    new_page: Callable[[AppServer], Awaitable[Page]],
) -> None:
    # Nothing listens on this port: every call finds the server unreachable.
    server = start_server(
        SCREEN_MODEL_URL=f"http://127.0.0.1:{free_port()}/v1", SCREEN_MODEL_NAME="peer-7b"
    )
    async with server.db() as db:
        screen = await make_screen(db, server.now(), calibration_threshold=None)
        settings = Settings(database_url=server.database_url, secret_key="x" * 32)
        await make_submitted(db, settings, server.now(), screen=screen, email="c@example.com")
        lead = await make_user(db, server.now(), "lead", email="lia@staff.example")
        admin = await make_user(db, server.now(), "admin", email="ada@staff.example")
        prompt_id = await db.scalar(select(Prompt.id).where(Prompt.slug == "sample-decision"))
        await db.commit()
    await failed_once(server, "model.rate")

    page = await new_page(server)
    await sign_in(page, lead.email)
    await page.goto("/lead/agreement?prompt=sample-decision")
    error = page.locator("[data-model-error]")
    await expect(error).to_contain_text("the model server is unreachable")
    await expect(page.locator("[data-model-status]")).to_contain_text("Calibration pending")
    await snap(page, "model-visibility-agreement")
    await check_axe(page, "model-visibility-agreement")
    await no_overflow_at(page, 390)
    await no_overflow_at(page, 1280)

    await page.goto(f"/lead/prompts/{prompt_id}")
    await page.get_by_label("Answers to ask the model for").fill("2")
    await page.get_by_role("button", name="Run the exposure probe").click()
    await failed_once(server, "model.probe")
    await page.goto(f"/lead/prompts/{prompt_id}")
    await expect(page.locator("[data-probe-error]")).to_contain_text("unreachable")
    await expect(page.locator('[data-probe-form="running"]')).to_be_visible()
    await expect(page.get_by_role("button", name="Run the exposure probe")).to_have_count(0)
    await snap(page, "model-visibility-probe")
    await check_axe(page, "model-visibility-probe")
    await no_overflow_at(page, 390)
    await no_overflow_at(page, 1280)
    await page.goto("/lead/prompts")
    await expect(page.locator("[data-probe-error]")).to_contain_text("unreachable")
    await snap(page, "model-visibility-library")
    await no_overflow_at(page, 390)

    admin_page = await new_page(server)
    await sign_in(admin_page, admin.email)
    await admin_page.goto("/admin/model-rater")
    await expect(admin_page.locator("[data-model-error]")).to_contain_text("unreachable")
    await snap(admin_page, "model-visibility-admin")
    await check_axe(admin_page, "model-visibility-admin")
    await no_overflow_at(admin_page, 390)
