"""One look, in the browser: the admin pages, the hiring manager's and the recruiter's
report pages, sign-in and the error page, with realistic data (32 candidates on one
screen: decided both ways, reviewers who disagree, answers still in review, answers that
resemble each other; webhook endpoints with failed deliveries, API keys, a dead outbox
event), at 1280 and 390 px: axe-core with no violation of any impact, no sideways
scrolling, a screenshot per page and width, and no label beside a radio or checkbox
broken mid-word (the "P/as/s" of issue 17)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Page, ViewportSize, expect
from sqlalchemy import select, update

from screen.accounts.api_keys import create_api_key, revoke
from screen.pipeline.webhooks import create_endpoint, set_enabled
from screen.platform.models import Attempt, OutboxEvent, OutboxStatus, Screen, User
from screen.recruiting.screens import assign_hiring_manager
from tests.e2e.harness import AXE, AXE_RESULTS, IMPACTS, SCREENSHOTS, AppServer, sign_in
from tests.support.answers import ANSWER_A, ANSWER_B, ANSWER_C, paraphrase
from tests.support.factories import TEST_ACTOR, make_screen, make_submitted, make_user
from tests.support.reports import score
from tests.support.smtp import free_port

WIDE: ViewportSize = {"width": 1280, "height": 800}
NARROW: ViewportSize = {"width": 390, "height": 844}
KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
FIRST = (
    "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth",
    "Frances Allen", "Ken Thompson", "Radia Perlman", "Leslie Lamport", "Margaret Hamilton",
    "John Backus", "Adele Goldberg", "Niklaus Wirth", "Shafi Goldwasser", "Tony Hoare",
    "Sophie Wilson", "Dennis Ritchie", "Karen Spärck Jones", "Butler Lampson", "Lynn Conway",
    "Jim Gray", "Fran Bilas", "Robin Milner", "Jean Sammet", "Peter Naur", "Mary Kenneth Keller",
    "Fernando Corbató", "Ida Rhodes", "Judea Pearl", "Joan Clarke", "Manuel Blum",
    "Evelyn Boyd Granville",
)  # fmt: skip
# Each candidate's two reviews: levels per dimension for the first and second reviewer.
# Far apart (4 against 2) is a disagreement a lead adjudicates.
PLAN = (
    [((4, 4, 3, 4), (4, 3, 3, 4))] * 9
    + [((2, 2, 1, 2), (2, 1, 2, 2))] * 8
    + [((3, 3, 3, 3), (3, 3, 2, 3))] * 5
    + [((4, 4, 4, 4), (2, 2, 2, 2))] * 3
)  # 25 scored, the last 7 wait in the queue
EVIDENCE = (
    "Puts numbers on both sides: p95 of 300 ms against $900 a month, and says which one "
    "gives way first when traffic doubles."
)
PROBE = "Walk through how you would set ef_search from a week of production logs."

LABEL_LINES = """() => {
    // Each label beside a radio or checkbox: the lines its text takes, and its words.
    const out = [];
    for (const input of document.querySelectorAll("input[type=radio], input[type=checkbox]")) {
        const label = input.closest("label")
            || (input.id && document.querySelector(`label[for="${CSS.escape(input.id)}"]`));
        if (!label || !label.offsetParent) continue;
        const tops = new Set();
        const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
            const range = document.createRange();
            range.selectNodeContents(walker.currentNode);
            for (const rect of range.getClientRects()) {
                if (rect.width > 0) tops.add(Math.round(rect.top));
            }
        }
        const text = label.textContent.trim().replace(/\\s+/g, " ");
        const style = getComputedStyle(label);
        const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.5;
        const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
        out.push({
            text: text.slice(0, 60), words: text.split(" ").length, lines: tops.size,
            height: (label.getBoundingClientRect().height - padding) / lineHeight,
        });
    }
    return out;
}"""

RUN_AXE = """async () => {
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
    }));
}"""


@functools.cache
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


async def look(page: Page, name: str) -> list[dict[str, Any]]:
    """At 1280 and 390 px: screenshots, no sideways scrolling, axe with no violation of any
    impact, and every label beside a control whole-worded. Returns the labels measured."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(axe_source() + "\n;undefined")
    problems: list[str] = []
    by_impact: dict[str, list[str]] = {impact: [] for impact in IMPACTS}
    labels: list[dict[str, Any]] = []
    for viewport in (WIDE, NARROW):
        width = viewport["width"]
        await page.set_viewport_size(viewport)
        await page.evaluate("() => window.scrollTo(0, 0)")  # the sticky header at the top
        await page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            problems.append(f"{overflow}px of sideways scrolling at {width}px")
        for violation in await page.evaluate(RUN_AXE):
            by_impact.setdefault(violation["impact"] or "minor", []).append(violation["id"])
            problems.append(
                f"axe {violation['impact']} {violation['id']} ({violation['help']}) at "
                f"{', '.join(violation['nodes'])} ({width}px)"
            )
        for label in await page.evaluate(LABEL_LINES):
            labels.append({**label, "width": width})
            if label["lines"] > label["words"] or (label["words"] <= 3 and label["height"] > 3):
                problems.append(f"label broken mid-word at {width}px: {json.dumps(label)}")
    await page.set_viewport_size(WIDE)
    AXE_RESULTS[f"look: {name}"] = by_impact
    assert not problems, f"{name}: " + "; ".join(problems)
    return labels


async def seed(server: AppServer) -> dict[str, Any]:
    """One screen with 32 candidates, its reviewers, a hiring manager, a lead and an
    admin's integrations, as a team a few weeks in would have them."""
    now = server.now()
    answers = (ANSWER_A, ANSWER_B, ANSWER_C)
    async with server.db() as db:
        screen = await make_screen(db, now, title="Senior GenAI Engineer, platform team")
        admin = await make_user(db, now, "admin", email="ada@look.example", name="Ada Okafor")
        recruiter = await make_user(
            db, now, "recruiter", email="rosa@look.example", name="Rosa Lindqvist"
        )
        manager = await make_user(
            db, now, "hiring_manager", email="hana@look.example", name="Hana Sato"
        )
        lead = await make_user(db, now, "lead", email="lee@look.example", name="Lee Moreau")
        first = await make_user(db, now, "reviewer", email="rui@look.example", name="Rui Costa")
        second = await make_user(db, now, "reviewer", email="vera@look.example", name="Vera Novak")
        await assign_hiring_manager(db, screen, manager.email, actor=TEST_ACTOR, now=now)
        # Endpoints before the decisions, so the decisions are sent (and fail: nothing
        # listens there), and the delivery log has tries to show.
        closed = f"http://127.0.0.1:{free_port()}/screen/webhooks"
        endpoint, _ = await create_endpoint(
            db,
            url=closed,
            events=["attempt.submitted", "decision.made"],
            description="Greenhouse production",
            now=now,
            secret_key=server.settings.secret_key,
            user=admin,
        )
        quiet, _ = await create_endpoint(
            db,
            url="https://warehouse.example.com/ingest/screen",
            events=["decision.made"],
            description="Hiring data warehouse",
            now=now,
            secret_key=server.settings.secret_key,
            user=admin,
        )
        await set_enabled(db, quiet.id, False, admin, now)
        await create_api_key(db, "Greenhouse production", admin, now)
        old, _ = await create_api_key(db, "Lever trial (ended)", admin, now)
        await revoke(db, old.id, admin, now)
        await db.commit()
        for index, name in enumerate(FIRST):
            base = answers[index % 3]
            # Each reworded in its own way; every eighth only lightly, a near-copy of
            # another to flag as a similar answer.
            share = 0.06 if index % 8 == 7 else 0.3 + (index % 5) * 0.08
            answer = paraphrase(base, share, seed=index)
            await make_submitted(
                db,
                server.settings,
                now,
                screen=screen,
                name=name,
                email=f"candidate{index}@mail.example",
                answer=answer,
            )
        for one, two in PLAN:
            await score(db, first, dict(zip(KEYS, one, strict=True)), now, evidence=EVIDENCE)
            await score(
                db, second, dict(zip(KEYS, two, strict=True)), now, evidence=EVIDENCE, probe=PROBE
            )
        await db.commit()
        disputed = await db.scalar(
            select(Attempt.id).where(Attempt.state == "needs_adjudication").limit(1)
        )
        return {
            "screen": await db.get(Screen, screen.id),
            "admin": admin,
            "recruiter": recruiter,
            "manager": manager,
            "lead": lead,
            "endpoint": endpoint,
            "disputed": disputed,
        }


async def test_the_admin_report_signin_and_error_pages_look_like_one_product(
    start_server: Callable[..., AppServer], new_page: Callable[[AppServer], Awaitable[Page]]
) -> None:
    server = start_server()

    async def fresh_page(server: AppServer) -> Page:
        # Signing in hashes with the real argon2 cost: on a loaded machine a click that
        # signs in takes more than the suite's 10 s, and this test signs in five times.
        page = await new_page(server)
        page.set_default_timeout(30_000)
        return page

    data = await seed(server)
    screen: Screen = data["screen"]
    admin: User = data["admin"]
    labels: list[dict[str, Any]] = []

    # Sign-in, with a wrong password: the problem above the form, the email kept.
    page = await fresh_page(server)
    await page.goto("/signin")
    await page.get_by_label("Email").fill(admin.email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.get_by_label("Email")).to_have_value(admin.email)
    await look(page, "signin")

    # The admin's integrations.
    await sign_in(page, admin.email)
    await page.goto("/admin/webhooks")
    main = page.locator("main")
    await expect(main.locator("h1")).to_have_count(1)
    await expect(main.locator(".button.primary")).to_have_count(1)
    await expect(main).to_contain_text("Greenhouse production")
    await expect(page.locator('.staff-nav a[aria-current="page"]').first).to_have_text(
        "Integrations"
    )
    await expect(page.locator(".who")).to_contain_text("Ada Okafor · Admin")
    await look(page, "admin-webhooks")

    await page.get_by_role("link", name="Add an endpoint").click()
    await page.get_by_label("URL").fill("hooks.example.com/screen")
    await page.get_by_label("Description").fill("Ashby sandbox")
    for box in await page.get_by_role("checkbox").all():
        await box.uncheck()
    await page.get_by_role("checkbox", name="decision.made").check()
    await page.get_by_role("button", name="Add endpoint").click()
    await expect(page.locator("#url-problem")).to_contain_text("http:// or https://")
    await expect(page.get_by_label("URL")).to_have_value("hooks.example.com/screen")
    await expect(page.get_by_label("Description")).to_have_value("Ashby sandbox")
    await expect(page.get_by_role("checkbox", name="decision.made")).to_be_checked()
    await expect(page.get_by_role("checkbox", name="invitation.sent")).not_to_be_checked()
    labels += await look(page, "webhook-form-error")

    await page.goto(f"/admin/webhooks/{data['endpoint'].id}")
    await expect(page.locator("table.delivery-log tbody tr").first).to_be_visible()
    await look(page, "webhook-endpoint")

    await page.goto("/admin/api-keys")
    await page.get_by_role("button", name="Revoke Greenhouse production").click()
    await expect(page.get_by_role("status")).to_contain_text("revoked: it stopped working")
    await look(page, "api-keys")

    # One email that gave up, for the outbox page: an event already sent, so the server's
    # runner (which may hold a pending one) never writes over it.
    async with server.db() as db:
        sent = select(OutboxEvent.id).where(OutboxEvent.status == OutboxStatus.DONE).limit(1)
        await db.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == sent.scalar_subquery())
            .values(status=OutboxStatus.DEAD, tries=12, last_error="SMTP 550: mailbox unavailable")
        )
        await db.commit()
    await page.goto("/admin/outbox")
    await page.get_by_role("button", name=re.compile(r"^Retry event")).first.click()
    await expect(page.get_by_role("status")).to_contain_text("is pending again")
    await page.goto("/admin/outbox?status=pending")
    await look(page, "outbox")

    # An error keeps the staff frame: the header, the navigation, a way back.
    await page.goto("/admin/webhooks/999999")
    await expect(page.locator("h1")).to_have_text("Page not found")
    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await look(page, "error")

    # The recruiter reads a report and shares it.
    recruiter_page = await fresh_page(server)
    await sign_in(recruiter_page, data["recruiter"].email)
    await recruiter_page.goto(f"/reports/screens/{screen.id}")
    await recruiter_page.get_by_role("link", name="Grace Hopper").first.click()
    await expect(recruiter_page.locator("main h1")).to_have_text("Grace Hopper")
    await recruiter_page.get_by_label("Valid for").fill("3")
    await recruiter_page.get_by_role("button", name="Create a share link").click()
    await expect(recruiter_page.get_by_role("status")).to_contain_text("Created.")
    link = await recruiter_page.locator("code.share-link").inner_text()
    await look(recruiter_page, "share-created")
    await recruiter_page.get_by_role("link", name="Back to the report").click()
    shares = recruiter_page.locator("table.share-list")
    await expect(shares).to_contain_text("Rosa Lindqvist")
    await expect(shares).not_to_contain_text("user:")
    await look(recruiter_page, "report")

    stranger = await fresh_page(server)
    await stranger.goto(link)
    await expect(stranger.locator("main h1")).to_have_text("Grace Hopper")
    await look(stranger, "shared-report")

    # The hiring manager: their screens, the comparison, a report.
    manager_page = await fresh_page(server)
    await sign_in(manager_page, data["manager"].email)
    await expect(manager_page.locator("main")).to_contain_text(screen.title)
    await expect(manager_page.locator(".who")).to_contain_text("Hiring manager")
    await expect(manager_page.locator(".who")).not_to_contain_text("hiring_manager")
    await look(manager_page, "hiring-home")
    await manager_page.get_by_role("link", name=screen.title).click()
    rows = manager_page.locator("main table tbody tr")
    assert await rows.count() >= 20, "the comparison lists the decided candidates"
    labels += await look(manager_page, "comparison")
    await manager_page.get_by_role("link", name="Alan Turing").first.click()
    await expect(manager_page.locator("main h1")).to_have_text("Alan Turing")
    await look(manager_page, "report-hiring-manager")

    # The lead's adjudication form, where "Pass" broke into "P/as/s": labels only (the
    # page's look is the lead pages' test).
    lead_page = await fresh_page(server)
    await sign_in(lead_page, data["lead"].email)
    await lead_page.goto(f"/lead/attempts/{data['disputed']}")
    for viewport in (WIDE, NARROW):
        await lead_page.set_viewport_size(viewport)
        for label in await lead_page.evaluate(LABEL_LINES):
            labels.append({**label, "width": viewport["width"]})
            assert label["lines"] <= label["words"], label
            assert label["height"] <= 1.5, label

    measured = {label["text"] for label in labels}
    assert {"Pass", "Fail", "decision.made"} <= measured, measured
