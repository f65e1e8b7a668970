"""A database outage answers 503 with Retry-After and logs one line, not a traceback per
request (found by fault testing: a 10 s PostgreSQL outage with 20 clients gave every
autosave a 500 and 3,000-9,000 log entries)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from screen.app import create_app
from screen.platform import web
from screen.platform.mail import FolderMailer
from screen.settings import Settings
from tests.support.smtp import free_port

Client = AsyncTestClient[Litestar]
LINK = "/s/some-candidate-link-token-0123456789"


@pytest.fixture
async def unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    """The app on a PostgreSQL address where nothing listens (a port just closed)."""
    monkeypatch.setattr(web, "_database_outage", web._Outage())
    settings = Settings(
        database_url=f"postgresql+asyncpg://screen:screen@127.0.0.1:{free_port()}/screen",
        secret_key="test-secret-key-0123456789",
        base_url="http://testserver.local",
        mail_dir=tmp_path / "mail",
    )
    app = create_app(settings, mailer=FolderMailer(tmp_path / "mail"), run_jobs=False)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


async def _autosave(client: Client) -> httpx.Response:
    return await client.post(
        LINK + "/draft",
        json={"revision": 0, "answer": "my answer"},
        headers={"Accept": "application/json"},
    )


async def test_an_autosave_and_a_page_answer_503_with_retry_after(unreachable: Client) -> None:
    save = await _autosave(unreachable)
    page = await unreachable.get(LINK)

    assert save.status_code == 503, save.text[:300]
    assert save.headers["retry-after"] == "5"
    assert save.json()["error"] == "database_unavailable"
    assert "cannot reach its database" in save.json()["message"]
    assert page.status_code == 503, page.text[:300]
    assert page.headers["retry-after"] == "5"
    assert "text/html" in page.headers["content-type"]
    assert "cannot reach its database" in page.text
    # An error of the moment must not be kept by a cache and shown after it has passed.
    assert save.headers["cache-control"] == page.headers["cache-control"] == "no-store"


async def test_an_outage_is_logged_once_per_process_not_once_per_request(
    unreachable: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    statuses = []
    for index in range(50):
        reply = await (_autosave(unreachable) if index % 2 else unreachable.get(LINK))
        statuses.append(reply.status_code)

    assert statuses == [503] * 50
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    print(f"log lines at warning or above for 50 requests in one outage: {len(warnings)}")
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "database unreachable" in warnings[0].getMessage()
    assert warnings[0].exc_info is None  # one line, no traceback
