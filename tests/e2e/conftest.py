"""Fixtures for the browser tests: Chromium (Debian's, never a downloaded one), the app
as a real `screen serve` process, and a real SMTP server the app sends invitations to.

Without Chromium or axe-core these tests skip with the reason; with
SCREEN_E2E_REQUIRED=1 (as in CI) a missing tool fails them instead. Every test here
carries the `e2e` marker, so `pytest -m "not e2e"` leaves them out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.e2e.harness import (
    AXE_RESULTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    IMPACTS,
    REQUIRED,
    AppServer,
    missing_tools,
)
from tests.support.smtp import SmtpServer

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A conftest's hook sees the whole session's items, not only this folder's.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def _browser_tools() -> None:
    problem = missing_tools()
    if problem is None:
        return
    if REQUIRED:
        pytest.fail(f"SCREEN_E2E_REQUIRED=1 but {problem}", pytrace=False)
    pytest.skip(f"browser tests need Chromium and axe-core: {problem}")


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app_server(smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    server = AppServer(tmp_path_factory.mktemp("e2e-app"), smtp.url).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


async def _new_context(browser: Browser, server: AppServer) -> BrowserContext:
    context = await browser.new_context(
        viewport=DESKTOP, base_url=server.base_url, accept_downloads=True
    )
    # Fail in seconds, not Playwright's 30: every wait here is for a local server.
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
async def context(browser: Browser, app_server: AppServer) -> AsyncIterator[BrowserContext]:
    context = await _new_context(browser, app_server)
    yield context
    await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture
def start_server(smtp: SmtpServer, tmp_path: Path) -> Iterator[Callable[..., AppServer]]:
    """Servers of the test's own: other settings, a queue to itself, or a database to break."""
    started: list[AppServer] = []

    def start(**env: str) -> AppServer:
        workdir = tmp_path / f"server-{len(started)}"
        workdir.mkdir()
        started.append(AppServer(workdir, smtp.url, **env).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[Callable[[AppServer], Awaitable[Page]]]:
    """A page in a fresh browser context (its own cookies) on the given server."""
    contexts: list[BrowserContext] = []

    async def new_page(server: AppServer) -> Page:
        contexts.append(await _new_context(browser, server))
        return await contexts[-1].new_page()

    yield new_page
    for context in contexts:
        await context.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not AXE_RESULTS:
        return
    terminalreporter.section("axe-core: violations by impact")
    for name, by_impact in sorted(AXE_RESULTS.items()):
        counts = "  ".join(f"{impact} {len(by_impact.get(impact, []))}" for impact in IMPACTS)
        rules = sorted({rule for ids in by_impact.values() for rule in ids})
        terminalreporter.write_line(
            f"{name:<32} {counts}" + (f"  ({', '.join(rules)})" if rules else "")
        )
