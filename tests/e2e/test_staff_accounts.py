"""The demo walk for staff accounts: in a real `screen demo`, the admin invites a new
reviewer from the web, the invitation arrives in the demo's mail folder, its link sets a
password, and the new reviewer signs in and reaches calibration. The admin's pages are
checked by axe-core and photographed at 1280 and 390 px."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.e2e.harness import SCREENSHOTS, check_axe, sign_in
from tests.support.smtp import free_port, text_part

WIDTHS: dict[int, ViewportSize] = {
    1280: {"width": 1280, "height": 800},
    390: {"width": 390, "height": 844},
}
NEW_PASSWORD = "a brand new passphrase"
SCORE_THREES = """() => {
    for (const radio of document.querySelectorAll("input[type=radio][name^='level.']")) {
        if (radio.value === "3") radio.checked = true;
    }
}"""


@dataclass
class Demo:
    base_url: str
    mail_dir: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    workdir = tmp_path_factory.mktemp("staff-demo")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
    # Deliver the outbox within a second, not five.
    env["SCREEN_SWEEP_INTERVAL_SECONDS"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "screen", "demo", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        give_up = time.monotonic() + 180  # seeding on a loaded 2-core machine
        banner = []
        for line in process.stdout:
            banner.append(line)
            if line.startswith("Run `screen demo` again"):
                break
            assert time.monotonic() < give_up, "the demo never became ready"
        text = "".join(banner)
        match = re.search(r"Emails are written to:\s+(\S+)", text)
        assert match, text
        base_url = f"http://127.0.0.1:{port}"
        assert httpx.get(base_url + "/healthz", timeout=5).status_code == 200
        yield Demo(base_url, Path(match.group(1)))
    finally:
        if process.stdout is not None:
            process.stdout.close()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def email_to(mail_dir: Path, address: str, within_seconds: float = 30.0) -> EmailMessage:
    give_up = time.monotonic() + within_seconds
    while True:
        for path in sorted(mail_dir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if address in str(message["To"]):
                return message
        assert time.monotonic() < give_up, f"no email to {address} in {mail_dir}"
        await asyncio.sleep(0.2)


async def clean(page: Page, name: str) -> None:
    """axe-core at both widths finds nothing, of any impact."""
    found = await check_axe(page, name)
    assert not any(found.values()), f"axe on {name}: {found}"


async def shots(page: Page, name: str) -> None:
    """Screenshots at 1280 and 390 px, with nothing wider than the phone's screen."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, viewport in WIDTHS.items():
        await page.set_viewport_size(viewport)
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        await page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
        assert overflow <= 0, f"{name}: {overflow}px wider than {width}px"
    await page.set_viewport_size(WIDTHS[1280])


async def test_the_admin_invites_a_reviewer_who_sets_a_password_and_calibrates(
    demo: Demo, browser: Browser
) -> None:
    admin = await browser.new_context(viewport=WIDTHS[1280], base_url=demo.base_url)
    admin.set_default_timeout(30_000)
    page = await admin.new_page()
    await sign_in(page, "admin@demo.screen", "admin-demo-pass")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Staff").click()
    await expect(page.get_by_role("heading", name="Staff accounts")).to_be_visible()
    await expect(page.get_by_role("row", name=re.compile("Rui Reviewer"))).to_contain_text(
        "Reviewer"
    )
    await clean(page, "admin staff accounts")
    await shots(page, "staff-accounts")

    await page.get_by_role("link", name="Invite a colleague").click()
    await page.wait_for_url(re.compile("/admin/users/invite$"))
    await page.get_by_label("Name").fill("Noor Newcomer")
    await page.get_by_label("Email").fill("noor@demo.screen")
    # The blind rule, refused inline with what was typed kept.
    await page.get_by_role("checkbox", name=re.compile(r"^\s*Reviewer\b")).check()
    await page.get_by_role("checkbox", name=re.compile(r"^\s*Admin\b")).check()
    await page.get_by_role("button", name="Send invitation").click()
    await expect(page.locator("#roles-problem")).to_contain_text("score blind")
    await expect(page.get_by_label("Email")).to_have_value("noor@demo.screen")
    await clean(page, "admin invite refused")
    await shots(page, "staff-invite-refused")
    await page.get_by_role("checkbox", name=re.compile(r"^\s*Admin\b")).uncheck()
    await page.get_by_role("button", name="Send invitation").click()
    await expect(page.get_by_role("status")).to_contain_text("Invitation sent")
    await expect(page.get_by_text("link expires")).to_be_visible()
    await clean(page, "admin manage account")
    await shots(page, "staff-account")

    message = await email_to(demo.mail_dir, "noor@demo.screen")
    match = re.search(r"https?://\S+/staff/welcome/[A-Za-z0-9_-]+", text_part(message))
    assert match, text_part(message)
    link = match.group(0)

    newcomer = await browser.new_context(viewport=WIDTHS[1280], base_url=demo.base_url)
    newcomer.set_default_timeout(30_000)
    noor = await newcomer.new_page()
    await noor.goto(link)
    await expect(noor.get_by_role("heading", name="Choose your password")).to_be_visible()
    await noor.get_by_label("New password").fill("too short")
    await noor.get_by_label("The same password again").fill("too short")
    await noor.get_by_role("button", name="Set password").click()
    await expect(noor.locator("#password-problem")).to_contain_text("at least 10 characters")
    await clean(noor, "staff set password refused")
    await shots(noor, "staff-set-password")
    await noor.get_by_label("New password").fill(NEW_PASSWORD)
    await noor.get_by_label("The same password again").fill(NEW_PASSWORD)
    await noor.get_by_role("button", name="Set password").click()
    await expect(noor.get_by_role("status")).to_contain_text("Your password is set")

    await sign_in(noor, "noor@demo.screen", NEW_PASSWORD)
    await noor.get_by_role("link", name=re.compile("^Calibrate on")).first.click()
    await expect(noor.get_by_text("Calibration · not a candidate")).to_be_visible()
    # Score the expert-scored example (level 3 throughout) and compare.
    await noor.evaluate(SCORE_THREES)
    await noor.get_by_role("button", name="Compare with the experts").click()
    await expect(noor.get_by_role("heading", level=1)).to_contain_text(
        "dimensions within one level of the experts"
    )

    # The list now shows the new reviewer active, signed in.
    await page.goto("/admin/users")
    row = page.get_by_role("row", name=re.compile("Noor Newcomer"))
    await expect(row).to_contain_text("Active")
    await expect(row).not_to_contain_text("never")
    # The used link is spent.
    response = await noor.goto(link)
    assert response is not None and response.status == 410
    await clean(noor, "staff link used")
    await shots(noor, "staff-link-used")

    # The admin's "confirm it is you" page, and the forgotten-password page and its answer.
    await page.goto("/reauth?next=/admin/users")
    await clean(page, "staff reauth")
    await shots(page, "staff-reauth")
    await page.get_by_label("Your password").fill("admin-demo-pass")
    await page.get_by_role("button", name="Confirm").click()
    await page.wait_for_url(re.compile("/admin/users$"))
    visitor = await browser.new_context(viewport=WIDTHS[1280], base_url=demo.base_url)
    forgot = await visitor.new_page()
    await forgot.goto("/signin")
    await forgot.get_by_role("link", name="Forgot your password?").click()
    await clean(forgot, "staff forgot password")
    await shots(forgot, "staff-forgot")
    await forgot.get_by_label("Email").fill("noor@demo.screen")
    await forgot.get_by_role("button", name="Email me a link").click()
    await expect(forgot.get_by_role("status")).to_contain_text("If an account exists")
    await clean(forgot, "staff forgot password sent")
    await visitor.close()
    await admin.close()
    await newcomer.close()
