"""What the browser tests share: the app as a real process, seeding its database,
the invitation link from a real email, screenshots at two widths, and axe-core."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from playwright.async_api import Page, ViewportSize
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import SystemClock
from screen.platform.db import create_engine, create_sessionmaker
from screen.platform.models import Attempt
from screen.recruiting.invitations import find_by_token
from screen.settings import Settings
from tests.support.factories import PASSWORD, make_candidate
from tests.support.processes import LoggedProcess
from tests.support.smtp import Inbox, SmtpServer, free_port, text_part

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
PROMPTS = REPO / "tests" / "data" / "prompts"
CHROMIUM = Path(os.environ.get("SCREEN_CHROMIUM") or "/usr/bin/chromium")
AXE = Path(
    os.environ.get("SCREEN_AXE_PATH")
    or REPO / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"
)
# Read at import, before the suite's autouse fixture clears SCREEN_* variables.
REQUIRED = os.environ.get("SCREEN_E2E_REQUIRED") == "1"
# Without the background-networking flags Chromium keeps dialling Google's hosts,
# which this closed network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 360, "height": 740}
SECRET = "e2e-secret-key-0123456789"
SERIOUS = ("serious", "critical")
IMPACTS = ("critical", "serious", "moderate", "minor")
_LINK = re.compile(r"https?://[^\s/]+/s/[A-Za-z0-9_\-]+")

# Page name → impact → rule ids; printed at the end of the run by conftest.
AXE_RESULTS: dict[str, dict[str, list[str]]] = {}


def missing_tools() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not AXE.is_file():
        return (
            f"no axe-core at {AXE} (npm install --no-save --prefix .ci/node axe-core@4, "
            "or set SCREEN_AXE_PATH to axe.min.js)"
        )
    return None


class AppServer:
    """`python -m screen serve` on a free loopback port, on its own SQLite file,
    sending mail over SMTP to the test's aiosmtpd server."""

    # Generous: on a loaded CI machine (or seven suites on two cores) start-up is slow;
    # a quick start waits no longer.
    start_within = 90.0

    def __init__(self, workdir: Path, smtp_url: str, **extra_env: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite+aiosqlite:///{workdir / 'screen.db'}"
        self.settings = Settings(
            database_url=self.database_url,
            secret_key=SECRET,
            base_url=self.base_url,
            prompts_dir=PROMPTS,
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
        self.env.update(
            SCREEN_DATABASE_URL=self.database_url,
            SCREEN_SECRET_KEY=SECRET,
            SCREEN_BASE_URL=self.base_url,
            SCREEN_SMTP_URL=smtp_url,
            SCREEN_PROMPTS_DIR=str(PROMPTS),
            # Deliver invitations and auto-submit within a second, not five.
            SCREEN_SWEEP_INTERVAL_SECONDS="1",
            # Webhook receivers in these tests listen on 127.0.0.1.
            SCREEN_ALLOW_PRIVATE_TARGETS="1",
            **extra_env,
        )
        self.child = LoggedProcess("the server", workdir / "server.log", stop_within=25)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "screen", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> AppServer:
        # Only `db upgrade`, `serve` and `demo` migrate; `prompts sync` needs the schema.
        self.cli("db", "upgrade")
        self.cli("prompts", "sync")
        self.child.start(
            [sys.executable, "-m", "screen", "serve", "--port", str(self.port)],
            ready_url=self.base_url + "/healthz",
            within=self.start_within,
            env=self.env,
        )
        return self

    def stop(self) -> None:
        self.child.stop()

    def log_tail(self, lines: int = 40) -> str:
        return self.child.log_tail(lines)

    @contextlib.asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """A session on the server's own database, for arranging data and checking it."""
        engine = create_engine(self.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                yield session
        finally:
            await engine.dispose()

    def now(self) -> datetime:
        """The server runs on the system clock, so data arranged for it must too."""
        return SystemClock().now()


async def invite(server: AppServer, smtp: SmtpServer, email: str, name: str) -> str:
    async with server.db() as db:
        await make_candidate(db, server.settings, server.now(), name=name, email=email)
    return await invitation_link(smtp.inbox, email)


async def stored_attempt(server: AppServer, link: str) -> Attempt:
    """The attempt behind a link, read from the server's database."""
    async with server.db() as db:
        invitation = await find_by_token(db, link.rsplit("/", 1)[1], with_prompt=False)
        assert invitation is not None
        attempt = await db.scalar(select(Attempt).where(Attempt.id == invitation.attempt.id))
        assert attempt is not None
        return attempt


async def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Through the real sign-in form, as a person would."""
    await page.goto("/signin")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/signin" not in url)


async def invitation_link(inbox: Inbox, to: str, within_seconds: float = 15.0) -> str:
    """The candidate link from the newest invitation email to `to` that reached the SMTP
    server (the inbox is the session's: an earlier test, on another server, may have used
    the same address)."""
    give_up = time.monotonic() + within_seconds
    while True:
        for message in reversed(list(inbox.messages)):
            if to in str(message["To"]):
                return _link_in(message)
        assert time.monotonic() < give_up, f"no email to {to} within {within_seconds}s"
        await asyncio.sleep(0.1)


def _link_in(message: EmailMessage) -> str:
    match = _LINK.search(text_part(message))
    assert match, "no candidate link in the email"
    return match.group(0)


async def snap(page: Page, name: str) -> None:
    """Screenshots at desktop and phone width, and no sideways scrolling on the phone."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    await page.screenshot(path=SCREENSHOTS / f"{name}-desktop.png", full_page=True)
    await page.set_viewport_size(PHONE)
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    await page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
    await page.set_viewport_size(size)
    assert overflow <= 0, f"{name}: {overflow}px wider than a 360px phone screen"


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


_RUN_AXE = """async () => {
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
    }));
}"""


async def check_axe(page: Page, name: str) -> dict[str, list[str]]:
    """Run axe-core on the page as it is now, at desktop and at phone width (tables
    that scroll, wrapped headers); fail on serious or critical violations.

    `page.evaluate` is not subject to the page's Content-Security-Policy (an inline
    <script> from `add_script_tag` is, and is refused), so the strict policy stays on.
    """
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(_axe_source() + "\n;undefined")
    size = page.viewport_size or DESKTOP
    violations: dict[str, dict[str, Any]] = {}
    for width, viewport in (("desktop", size), ("phone", PHONE)):
        await page.set_viewport_size(viewport)
        for violation in await page.evaluate(_RUN_AXE):
            violations.setdefault(violation["id"], {**violation, "widths": []})
            violations[violation["id"]]["widths"].append(width)
    await page.set_viewport_size(size)
    by_impact: dict[str, list[str]] = {impact: [] for impact in IMPACTS}
    for violation in violations.values():
        by_impact.setdefault(violation["impact"] or "minor", []).append(violation["id"])
    AXE_RESULTS[name] = by_impact
    (ARTIFACTS / "axe").mkdir(parents=True, exist_ok=True)
    report = ARTIFACTS / "axe" / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}.json"
    report.write_text(json.dumps(list(violations.values()), indent=2))
    bad = [v for v in violations.values() if v["impact"] in SERIOUS]
    assert not bad, f"axe on {name}: " + "; ".join(
        f"{v['impact']} {v['id']} ({v['help']}) at {', '.join(v['nodes'])} "
        f"({', '.join(v['widths'])} width)"
        for v in bad
    )
    return by_impact
