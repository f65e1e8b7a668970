"""The recruiter's pages in a browser with realistic data: 34 candidates in every state
(invited, started, waiting, passed, failed, disputed, expired, withdrawn), the home table,
the screen's page and its settings (a refused and a saved pass threshold, a reviewer pool,
a copy of the screen), the invite page and a refused invitation, an ATS export's column
mapping, the invitation page, and withdraw and archive confirmed with and without
JavaScript. axe-core at 1280 and 390 px with no violation of any impact; screenshots
named `<page>-1280.png` and `<page>-390.png`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from screen.candidate import attempts
from screen.platform import audit
from screen.platform.models import Attempt, Invitation
from screen.recruiting import outcomes
from screen.recruiting.invitations import withdraw
from screen.recruiting.screens import set_archived
from tests.e2e.harness import (
    _RUN_AXE,
    AXE_RESULTS,
    IMPACTS,
    SCREENSHOTS,
    AppServer,
    _axe_source,
    sign_in,
)
from tests.support.factories import (
    TEST_ACTOR,
    make_candidate,
    make_screen,
    make_submitted,
    make_user,
    score_next,
)
from tests.support.smtp import SmtpServer

WIDE: ViewportSize = {"width": 1280, "height": 800}
NARROW: ViewportSize = {"width": 390, "height": 844}
DIMENSIONS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
NAMES = [
    "Amara Okafor", "Bastian Weber", "Chen Wei", "Divya Raman", "Elif Yilmaz",
    "Farah Haddad", "Gabriel Souza", "Hana Kobayashi", "Ivan Petrov", "Jamal Carter",
    "Kofi Mensah", "Leila Nasser", "Mateo Garcia", "Nadia Rahman", "Oskar Lindqvist",
    "Priya Nair", "Quentin Dubois", "Rosa Martinez", "Sven Olsen", "Tariq Aziz",
    "Uma Desai", "Viktor Novak", "Wen Li", "Ximena Torres", "Yusuf Demir",
    "Zara Ahmed", "Aiko Tanaka", "Bruno Rossi", "Chiara Bianchi", "Dmitri Volkov",
    "Esther Cohen", "Felix Braun", "Greta Nilsson", "Hugo Laurent",
]  # fmt: skip
ATS_EXPORT = (
    "Candidate ID,First Name,Last Name,Email Address,Job,Stage,Phone\n"
    "gh-5101,Nora,Ekström,nora.ekstrom@example.com,ML Engineer,Application Review,+46 8 123\n"
    "gh-5102,Samuel,Adeyemi,samuel.adeyemi@example.com,ML Engineer,Application Review,\n"
    "gh-5103,Mei,Lin,mei.lin@example,ML Engineer,Application Review,\n"
)


@dataclass(frozen=True)
class Seeded:
    recruiter: str
    screen_id: int
    archive_id: int
    decided_id: int
    to_withdraw: list[int]


async def seed(server: AppServer) -> Seeded:
    """Candidates in every state, through the same rules the app uses."""
    async with server.db() as db:
        now = server.now()
        recruiter = await make_user(
            db, now, "recruiter", email="rina@staff.example", name="Rina Recruiter"
        )
        first = await make_user(db, now, "reviewer", email="rev1@staff.example", name="Ravi")
        second = await make_user(db, now, "reviewer", email="rev2@staff.example", name="Lou")
        screen = await make_screen(db, now, title="Senior ML engineer, winter hiring")
        await make_screen(db, now, title="Platform engineer, spring")
        spare = await make_screen(db, now, title="Data engineer (to archive)")
        old = await make_screen(db, now, title="Backend engineer, autumn (closed)")
        set_archived(db, old, True, now, TEST_ACTOR)
        await db.commit()
        names = iter(NAMES)

        def email(name: str) -> str:
            return name.lower().replace(" ", ".") + "@example.com"

        async def candidate() -> Invitation:
            name = next(names)
            made = await make_candidate(
                db, server.settings, now, screen=screen, name=name, email=email(name)
            )
            return made.invitation.invitation

        async def scored(levels: tuple[int, int]) -> int:
            name = next(names)
            made = await make_submitted(
                db, server.settings, now, screen=screen, name=name, email=email(name)
            )
            for reviewer, level in zip((first, second), levels, strict=True):
                await score_next(db, reviewer, dict.fromkeys(DIMENSIONS, level), now)
            return made.invitation_id

        invited = [await candidate() for _ in range(10)]  # invited, not opened yet
        for _ in range(2):  # the link lapsed
            lapsed = await candidate()
            lapsed.expires_at = now - timedelta(days=1)
            await db.commit()
        for reason in (
            "Accepted another offer",
            "Invited to the wrong screen",
            "Duplicate application",
        ):
            gone = await candidate()
            await withdraw(db, gone, now, reason=reason, actor=TEST_ACTOR)
            await db.commit()
        for _ in range(2):  # writing now
            writing = await candidate()
            await attempts.start(db, writing.attempt, writing, screen, now)
            await db.commit()
        for _ in range(4):  # submitted, waiting for reviews
            name = next(names)
            await make_submitted(
                db, server.settings, now, screen=screen, name=name, email=email(name)
            )
        decided = 0
        for _ in range(6):
            decided = await scored((3, 4))
        for _ in range(5):
            await scored((1, 2))
        for _ in range(2):  # reviewers disagree: a lead decides
            await scored((1, 4))
        # What happened next to one who passed, recorded by a person and by the ATS.
        passed = await db.scalar(
            select(Invitation)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .where(Invitation.screen_id == screen.id, Attempt.state == "passed")
            .options(selectinload(Invitation.attempt))
            .limit(1)
        )
        assert passed is not None
        decided = passed.id
        await outcomes.record_outcome(
            db, passed, "advanced", "Onsite booked", audit.actor_of(recruiter), now
        )
        await outcomes.record_outcome(db, passed, "offer", "", "api:Greenhouse", now)
        await db.commit()
        return Seeded(recruiter.email, screen.id, spare.id, decided, [invited[0].id, invited[1].id])


class OwnServer(AppServer):
    """The harness's server with more patience at start: on a loaded two-core CI machine
    importing the app alone has taken over 20 seconds."""

    start_within = 120.0


@pytest.fixture
def server(smtp: SmtpServer, tmp_path: Path) -> Iterator[AppServer]:
    """A server of this test's own, so the numbers on its pages are only its data."""
    own = OwnServer(tmp_path, smtp.url).start()
    yield own
    own.stop()


async def axe_clean(page: Page, name: str) -> None:
    """axe-core at 1280 and 390 px: no violation of any impact."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(_axe_source() + "\n;undefined")
    found: dict[str, list[str]] = {impact: [] for impact in IMPACTS}
    details = []
    for viewport in (WIDE, NARROW):
        await page.set_viewport_size(viewport)
        for violation in await page.evaluate(_RUN_AXE):
            found.setdefault(violation["impact"] or "minor", []).append(violation["id"])
            details.append(f"{violation['id']} at {viewport['width']}px: {violation['nodes']}")
    await page.set_viewport_size(WIDE)
    AXE_RESULTS[name] = found
    assert not details, f"axe on {name}: " + "; ".join(details)


async def shots(page: Page, name: str) -> None:
    """Full-page screenshots at 1280 and 390 px; neither scrolls sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for viewport in (WIDE, NARROW):
        await page.set_viewport_size(viewport)
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        await page.screenshot(path=SCREENSHOTS / f"{name}-{viewport['width']}.png", full_page=True)
        assert overflow <= 0, f"{name}: {overflow}px wider than {viewport['width']}px"
    await page.set_viewport_size(WIDE)


async def test_the_recruiters_pages_with_34_candidates(server: AppServer, browser: Browser) -> None:
    seeded = await seed(server)
    context = await browser.new_context(viewport=WIDE, base_url=server.base_url)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    await sign_in(page, seeded.recruiter)

    # Home: one row per screen, seven columns that fit 1280 px without scrolling.
    await page.goto("/recruiter")
    row = page.locator("tr", has_text="Senior ML engineer, winter hiring")
    # 10 invited and 2 writing; 4 submitted and 2 disputed; 6 passed and 5 failed.
    await expect(row.locator("td.num").nth(0)).to_have_text("12")
    await expect(row.locator("td.num").nth(1)).to_have_text("6")
    await expect(row.locator("td.num").nth(2)).to_have_text("11")
    await expect(row.locator("td.num").nth(3)).to_contain_text("55%")
    await expect(row).to_contain_text("6 of 11")
    fits = await page.evaluate(
        "() => { const w = document.querySelector('.screens-home').closest('.table-wrap');"
        " return w.scrollWidth - w.clientWidth; }"
    )
    assert fits <= 0, f"the home table scrolls {fits}px at 1280"
    await shots(page, "recruiter-home")
    await axe_clean(page, "recruiter home")

    # The screen's page: one heading, one primary action.
    await page.goto(f"/recruiter/screens/{seeded.screen_id}")
    await expect(page.locator("h1")).to_have_count(1)
    await expect(page.locator("main .button.primary")).to_have_count(1)
    await expect(page.locator("main .button.primary")).to_have_text("Invite candidates")
    await expect(page.get_by_role("img", name="Candidates by furthest step")).to_be_visible()
    await shots(page, "screen-dashboard")
    await axe_clean(page, "screen dashboard")

    # Its settings: a looser pass threshold is refused beside the field, a stricter one and
    # a reviewer pool are saved and shown on the screen's page; then a copy of the screen.
    await page.get_by_role("link", name="Edit settings").click()
    await page.get_by_label("Stricter pass threshold").fill("2.5")
    await page.get_by_role("checkbox", name="Ravi").check()
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator("#pass_threshold-problem")).to_contain_text("looser than the 2.75")
    await expect(page.get_by_role("checkbox", name="Ravi")).to_be_checked()
    await shots(page, "screen-settings-refused")
    await axe_clean(page, "screen settings refused")
    await page.get_by_label("Stricter pass threshold").fill("3.2")
    await page.get_by_role("checkbox", name="Lou").check()
    await page.get_by_role("button", name="Save changes").click()
    facts = page.locator(".screen-facts")
    await expect(facts).to_contain_text("3.2, set on this screen (stricter than the rubric's 2.75)")
    await expect(facts).to_contain_text("only Lou, Ravi")
    await page.get_by_role("link", name="Edit settings").click()
    await shots(page, "screen-settings")
    await axe_clean(page, "screen settings")
    await page.goto(f"/recruiter/screens/{seeded.screen_id}")
    await page.get_by_role("button", name="Duplicate").click()
    await expect(page.locator("h1")).to_have_text("Copy of Senior ML engineer, winter hiring")
    await expect(page.get_by_role("status")).to_contain_text("This is a copy")
    await expect(page.locator(".screen-facts")).to_contain_text("only Lou, Ravi")
    await shots(page, "screen-duplicated")
    await page.goto(f"/recruiter/screens/{seeded.screen_id}")

    # Inviting one candidate with a mistyped address: the same page, the input kept.
    await page.get_by_role("link", name="Invite candidates").click()
    await page.get_by_label("Name", exact=True).fill("Ines Moreau")
    await page.get_by_label("Email").fill("ines.moreau@example")
    await page.get_by_role("button", name="Send invitation").click()
    await expect(page.locator("#email-problem")).to_be_visible()
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Ines Moreau")
    await shots(page, "invite-refused")
    await axe_clean(page, "invite refused")

    # An ATS export: columns recognised, one reassigned on the preview.
    await page.get_by_label("CSV file").set_input_files(
        {"name": "greenhouse.csv", "mimeType": "text/csv", "buffer": ATS_EXPORT.encode()}
    )
    await page.get_by_role("button", name="Check the file").click()
    await expect(page.locator("h1")).to_have_text("greenhouse.csv: 2 ready, 1 with problems")
    await expect(page.get_by_label("Phone")).to_have_value("ignore")
    await expect(page.get_by_label("Candidate ID")).to_have_value("external_id")
    await shots(page, "import-mapping")
    await axe_clean(page, "import mapping")
    await page.get_by_label("Candidate ID").select_option("ignore")
    await page.get_by_role("button", name="Check the rows with these columns").click()
    await expect(page.get_by_label("Candidate ID")).to_have_value("ignore")
    await page.get_by_label("Candidate ID").select_option("external_id")
    await page.get_by_role("button", name="Check the rows with these columns").click()
    await page.get_by_role("button", name="Invite 2 candidates").click()
    await expect(page.get_by_role("status")).to_have_text(
        "2 candidates invited; their emails are on the way."
    )

    # A decided candidate's page: the history names people.
    await page.goto(f"/recruiter/invitations/{seeded.decided_id}")
    await expect(page.locator("h1")).to_have_count(1)
    await expect(page.locator(".outcome-history")).to_contain_text("API key Greenhouse")
    await expect(page.locator(".outcome-history")).to_contain_text("Rina Recruiter")
    await expect(page.locator("main")).not_to_contain_text("user:")
    await shots(page, "invitation")
    await axe_clean(page, "invitation")
    await context.close()

    # Withdraw and archive, with and without JavaScript: the same confirmation pages.
    for javascript in (True, False):
        context = await browser.new_context(
            viewport=WIDE, base_url=server.base_url, java_script_enabled=javascript
        )
        context.set_default_timeout(10_000)
        page = await context.new_page()
        await sign_in(page, seeded.recruiter)
        label = "js" if javascript else "nojs"
        invitation_id = seeded.to_withdraw[0 if javascript else 1]
        await page.goto(f"/recruiter/invitations/{invitation_id}")
        name = await page.locator("h1").inner_text()
        await page.get_by_role("link", name="Withdraw this invitation…").click()
        await expect(page.locator("h1")).to_have_text(f"Withdraw {name}'s invitation?")
        await shots(page, f"withdraw-confirm-{label}")
        if javascript:
            await axe_clean(page, "withdraw confirm")
        await page.get_by_role("button", name="Withdraw the invitation").click()
        await expect(page.locator("#reason-problem")).to_have_text(
            "Say why the invitation is withdrawn."
        )
        await shots(page, f"withdraw-refused-{label}")
        await page.get_by_label("Reason").fill("Candidate accepted another offer")
        await page.get_by_role("button", name="Withdraw the invitation").click()
        await expect(page.get_by_role("status")).to_contain_text("The invitation was withdrawn")
        await expect(page.locator(".history")).to_contain_text(
            "Reason: Candidate accepted another offer"
        )
        await expect(page.locator(".history")).to_contain_text("Rina Recruiter")
        await shots(page, f"withdrawn-{label}")

        await page.goto(f"/recruiter/screens/{seeded.archive_id}")
        if not javascript:
            await page.get_by_role("link", name="Archive…").click()
            await expect(page.locator("h1")).to_have_text("Archive this screen?")
            await shots(page, "archive-confirm")
            await page.get_by_role("button", name="Archive the screen").click()
            await expect(page.get_by_role("status")).to_contain_text("The screen is archived")
        else:
            await page.get_by_role("link", name="Archive…").click()
            await axe_clean(page, "archive confirm")
            await page.get_by_role("link", name="Keep it open").click()
            await expect(page.locator(".tag", has_text="archived")).to_have_count(0)
        await context.close()
