"""The whole product, page by page, as each role reaches it, with the demo's realistic data
(about sixty candidates in every state, months of decisions, disputes, near-copies), under
axe-core at 1280 and 390 px: 0 violations of any impact, and screenshots named
tour-<page>-<width>.png in tests/artifacts/screenshots/.

One app server and one seeded database for the whole tour; each page is a test of its own,
so a failing page is listed by name. Pages still being redesigned carry an xfail with the
reason (not strict: a page that passes shows as XPASS until the mark is removed).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from screen.cli import DEMO_CSV
from screen.platform.models import OutboxEvent, OutboxStatus, SimilarityMatch
from screen.platform.paths import PROMPTS_DIR
from tests.e2e.harness import ARTIFACTS, SCREENSHOTS, AppServer, _axe_source, sign_in
from tests.support.realistic import Realistic, seed_realistic, submitted_candidate
from tests.support.smtp import SmtpServer
from tests.support.webhooks import Receiver

WIDTHS: dict[int, ViewportSize] = {
    1280: {"width": 1280, "height": 800},
    390: {"width": 390, "height": 844},
}
PASSWORDS = {
    "admin": ("admin@demo.screen", "admin-demo-pass"),
    "recruiter": ("recruiter@demo.screen", "recruiter-demo-pass"),
    "reviewer": ("reviewer@demo.screen", "reviewer-demo-pass"),
    "reviewer2": ("reviewer2@demo.screen", "reviewer2-demo-pass"),
    "lead": ("lead@demo.screen", "lead-demo-pass"),
    "manager": ("manager@demo.screen", "manager-demo-pass"),
}
RESULTS = ARTIFACTS / "tour" / "results.json"
_RUN_AXE = """async () => {
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    }));
}"""


@dataclass
class Tour:
    server: AppServer
    data: Realistic
    browser: Browser
    contexts: dict[str, BrowserContext] = field(default_factory=dict)
    # What one stop leaves for a later one (the review desk's address, say).
    state: dict[str, str] = field(default_factory=dict)

    async def page(self, role: str | None) -> Page:
        """A tab in the role's browser (signed in once for the whole tour)."""
        key = role or "anonymous"
        if key not in self.contexts:
            context = await self.browser.new_context(
                viewport=WIDTHS[1280], base_url=self.server.base_url
            )
            # Generous: on a shared 2-core machine the server also delivers the demo's
            # emails and webhooks and checks its answers for near-copies at first.
            context.set_default_timeout(45_000)
            context.set_default_navigation_timeout(45_000)
            if role is not None:
                tab = await context.new_page()
                try:
                    await sign_in(tab, *PASSWORDS[role])
                except BaseException:
                    await context.close()  # the next stop of this role signs in afresh
                    raise
                await tab.close()
            self.contexts[key] = context
        return await self.contexts[key].new_page()


@pytest.fixture(scope="module")
async def tour(
    smtp: SmtpServer, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Tour]:
    async with Receiver() as receiver:
        server = AppServer(tmp_path_factory.mktemp("tour"), smtp.url)
        # The real prompt library: the demo's answers are its exemplars.
        server.env["SCREEN_PROMPTS_DIR"] = str(PROMPTS_DIR)
        server.settings = replace(server.settings, prompts_dir=PROMPTS_DIR)
        server.cli("db", "upgrade")
        async with server.db() as db:
            data = await seed_realistic(db, server.settings, server.now(), receiver.url)
            await db.commit()
        await asyncio.to_thread(server.start)
        await _settled(server)
        tour = Tour(server, data, browser)
        try:
            yield tour
        finally:
            for context in tour.contexts.values():
                await context.close()
            await asyncio.to_thread(server.stop)


async def _settled(server: AppServer, within_seconds: float = 120) -> None:
    """Give the server time to send the demo's backlog (sixty invitation emails, a webhook
    per decision, a near-copy check per answer): on a busy 2-core machine the first pages
    otherwise wait behind it for longer than a page load may take. Not a check: an event
    whose job hit SQLite's lock stays dispatched until the relay sends it again, which
    may take longer, and every page has its own timeout anyway."""
    give_up = time.monotonic() + within_seconds
    while time.monotonic() < give_up:
        async with server.db() as db:
            waiting = await db.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(
                    OutboxEvent.status == OutboxStatus.PENDING,
                    OutboxEvent.available_at <= server.now(),
                )
            )
        if not waiting:
            return
        await asyncio.sleep(1)


async def inspect(page: Page, name: str) -> dict[int, list[dict[str, Any]]]:
    """Screenshots and axe-core's violations (every impact) at each width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    found: dict[int, list[dict[str, Any]]] = {}
    for width, viewport in WIDTHS.items():
        await page.set_viewport_size(viewport)
        await page.screenshot(path=SCREENSHOTS / f"tour-{name}-{width}.png", full_page=True)
        if not await page.evaluate("() => typeof window.axe === 'object'"):
            await page.evaluate(_axe_source() + "\n;undefined")
        found[width] = await page.evaluate(_RUN_AXE)
    await page.set_viewport_size(WIDTHS[1280])
    return found


def record(name: str, url: str, found: dict[int, list[dict[str, Any]]]) -> None:
    """Every page's result in one file, for the closing note's table."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[name] = {
        "url": re.sub(r"/(s|shared)/[A-Za-z0-9_-]{20,}", r"/\1/<token>", url),
        "screenshots": [f"tour-{name}-{width}.png" for width in WIDTHS],
        "violations": {str(width): found[width] for width in WIDTHS},
    }
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))


# --- what a person does to reach each page ---------------------------------------------


async def _goto(page: Page, path: str) -> None:
    response = await page.goto(path)
    assert response is not None


async def candidate_landing(page: Page, tour: Tour) -> None:
    await _goto(page, tour.data.fresh_link)


async def candidate_attempt(page: Page, tour: Tour) -> None:
    """The demo's candidate writing right now (a draft saved, the clock running)."""
    assert tour.data.started_link is not None
    await _goto(page, tour.data.started_link + "/attempt")


async def _candidate(tour: Tour, *, answer_follow_ups: bool) -> str:
    """A candidate who submitted just now; SQLite has one writer, and the server is busy
    writing the demo's emails and checks at first, so a locked database is waited out."""
    for tries_left in range(10, -1, -1):
        try:
            async with tour.server.db() as db:
                link = await submitted_candidate(
                    db, tour.server.settings, tour.server.now(), answer_follow_ups=answer_follow_ups
                )
                await db.commit()
                return link
        except OperationalError as error:
            if "locked" not in str(error) or not tries_left:
                raise
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def candidate_follow_up(page: Page, tour: Tour) -> None:
    await _goto(page, await _candidate(tour, answer_follow_ups=False))
    await page.wait_for_url(re.compile(r"/follow-up"))


async def candidate_done(page: Page, tour: Tour) -> None:
    await _goto(page, await _candidate(tour, answer_follow_ups=True) + "/done")


async def review_queue(page: Page, tour: Tour) -> None:
    await _goto(page, "/review")


async def review_desk(page: Page, tour: Tour) -> None:
    """Review next: the planted near-copy, with its similar answers found."""
    give_up = time.monotonic() + 60
    while True:
        async with tour.server.db() as db:
            if await db.scalar(select(func.count()).select_from(SimilarityMatch)):
                break
        assert time.monotonic() < give_up, "the similar-answer check never ran"
        await asyncio.sleep(0.5)
    if "desk" in tour.state:
        await _goto(page, tour.state["desk"])
        return
    await _goto(page, "/review")
    await page.get_by_role("button", name=re.compile(r"Review next", re.I)).first.click()
    await page.wait_for_url(re.compile(r"/review/\d+"))
    tour.state["desk"] = page.url


_FILL_REVIEW = """() => {
    for (const radio of document.querySelectorAll("input[type=radio][name^='level.']")) {
        if (radio.value === "3") radio.checked = true;
    }
    for (const area of document.querySelectorAll("textarea[name^='evidence.']")) {
        area.value = "Adds up the p95 path against the 2.0 s budget and costs two options.";
    }
    const yes = document.querySelector("[name=recommendation][value=yes]");
    if (yes) yes.checked = true;
    const select = document.querySelector("select[name=recommendation]");
    if (select) select.value = "yes";
}"""


async def review_submitted(page: Page, tour: Tour) -> None:
    """Score every dimension on the desk and submit: what the reviewer sees next."""
    await review_desk(page, tour)
    await page.evaluate(_FILL_REVIEW)
    await page.get_by_role("button", name=re.compile(r"^Submit", re.I)).first.click()
    await page.wait_for_load_state()


async def calibration(page: Page, tour: Tour) -> None:
    """The first reviewer, not yet calibrated, on the expert-scored example."""
    await _goto(page, "/review/calibration/rag-support-assistant")


async def notifications(page: Page, tour: Tour) -> None:
    await _goto(page, "/account/notifications")


def _path(path: str) -> Callable[[Page, Tour], Awaitable[None]]:
    async def visit(page: Page, tour: Tour) -> None:
        await _goto(page, path.format(data=tour.data))

    return visit


async def recruiter_import_preview(page: Page, tour: Tour, tmp: Path) -> None:
    csv_file = tmp / "candidates.csv"
    csv_file.write_text(DEMO_CSV, encoding="utf-8")
    await _goto(page, f"/recruiter/screens/{tour.data.screen_id}/invite")
    await page.get_by_label("CSV file").set_input_files(csv_file)
    await page.get_by_role("button", name="Check the file").click()
    await page.wait_for_url(re.compile(r"/import"))


@dataclass(frozen=True)
class Stop:
    name: str
    role: str | None
    visit: Callable[..., Awaitable[None]]
    # Why this page is expected to fail today (a redesign in progress); None: it passes.
    failing: str | None = None


STOPS = (
    Stop("candidate-landing", None, candidate_landing),
    Stop("candidate-attempt", None, candidate_attempt),
    Stop("candidate-follow-up", None, candidate_follow_up),
    Stop("candidate-done", None, candidate_done),
    Stop("signin", None, _path("/signin")),
    Stop("error-404", None, _path("/no-such-page")),
    Stop("review-queue", "reviewer2", review_queue),
    Stop("review-desk", "reviewer2", review_desk),
    Stop("review-submitted", "reviewer2", review_submitted),
    Stop("review-calibration", "reviewer", calibration),
    Stop("notification-settings", "reviewer", notifications),
    Stop("lead-queue", "lead", _path("/lead")),
    Stop("lead-attempt", "lead", _path("/lead/attempts/{data.disputed_attempt_id}")),
    Stop("lead-agreement", "lead", _path("/lead/agreement?prompt=rag-support-assistant")),
    Stop("lead-leaks", "lead", _path("/lead/leaks")),
    Stop("lead-prompts", "lead", _path("/lead/prompts")),
    Stop("lead-waivers", "lead", _path("/lead/calibration")),
    Stop("recruiter-home", "recruiter", _path("/recruiter")),
    Stop("recruiter-new-screen", "recruiter", _path("/recruiter/screens/new")),
    Stop("recruiter-dashboard", "recruiter", _path("/recruiter/screens/{data.screen_id}")),
    Stop("recruiter-invite", "recruiter", _path("/recruiter/screens/{data.screen_id}/invite")),
    Stop("recruiter-import-preview", "recruiter", recruiter_import_preview),
    Stop(
        "recruiter-invitation",
        "recruiter",
        _path("/recruiter/invitations/{data.decided_invitation_id}"),
    ),
    Stop("manager-home", "manager", _path("/hiring")),
    Stop("manager-report", "manager", _path("/reports/{data.decided_invitation_id}")),
    Stop("manager-comparison", "manager", _path("/reports/screens/{data.screen_id}")),
    Stop("shared-report", None, _path("/shared/{data.share_token}")),
    Stop("admin-webhooks", "admin", _path("/admin/webhooks")),
    Stop("admin-webhook-new", "admin", _path("/admin/webhooks/new")),
    Stop("admin-webhook-endpoint", "admin", _path("/admin/webhooks/{data.endpoint_id}")),
    Stop("admin-api-keys", "admin", _path("/admin/api-keys")),
    Stop("admin-outbox", "admin", _path("/admin/outbox")),
    Stop("admin-notifications", "admin", _path("/admin/notifications")),
)


def _params() -> list[Any]:
    return [
        pytest.param(
            stop,
            id=stop.name,
            marks=[pytest.mark.xfail(strict=False, reason=stop.failing)] if stop.failing else [],
        )
        for stop in STOPS
    ]


@pytest.mark.parametrize("stop", _params())
async def test_page(stop: Stop, tour: Tour, tmp_path: Path) -> None:
    page = await tour.page(stop.role)
    try:
        if stop.visit is recruiter_import_preview:
            await stop.visit(page, tour, tmp_path)
        else:
            await stop.visit(page, tour)
        found = await inspect(page, stop.name)
        record(stop.name, page.url, found)
    finally:
        await page.close()

    problems = [
        f"{width} px: {v['impact']} {v['id']} ({v['help']}) at {', '.join(v['nodes'])}"
        for width, violations in found.items()
        for v in violations
    ]
    assert not problems, f"axe on {stop.name}:\n" + "\n".join(problems)
