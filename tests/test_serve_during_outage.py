"""A web process started while its database is down starts anyway and answers 503 with the
outage message until the database is usable (issue 15: `screen serve` restarted during a
database outage used to exit, so the web tier was absent until the database came back)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from screen.app import create_app
from screen.platform import migrate
from screen.platform.db import create_engine
from screen.platform.mail import FolderMailer
from screen.settings import Settings
from tests.support.proxy import TcpProxy
from tests.support.smtp import free_port

PG_URL = os.environ.get("SCREEN_TEST_DATABASE_URL", "")
OUTAGE_MESSAGE = "Screen cannot reach its database for a moment."


async def test_the_gate_answers_503_until_the_schema_is_at_this_versions_head(
    tmp_path: Path,
) -> None:
    """A database that answers but is not migrated yet is not usable: 503 until it is."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    settings = Settings(
        database_url=url,
        secret_key="gate-secret-key-0123456789",
        base_url="http://testserver.local",
        mail_dir=tmp_path / "mail",
    )
    app = create_app(
        settings, mailer=FolderMailer(tmp_path / "mail"), run_jobs=False, wait_for_database=True
    )
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        alive = await client.get("/healthz")
        before = await client.get("/signin")
        ready_before = await client.get("/readyz")
        engine = create_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        give_up = time.monotonic() + 15
        while (after := await client.get("/signin")).status_code == 503:
            assert time.monotonic() < give_up, "the gate never opened"
            await asyncio.sleep(0.1)
        ready_after = await client.get("/readyz")

    assert alive.status_code == 200
    assert before.status_code == 503
    assert before.headers["retry-after"] == "5"
    assert OUTAGE_MESSAGE in before.text
    assert ready_before.status_code == 503
    assert after.status_code == 200 and "Sign in" in after.text
    assert ready_after.status_code == 200


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text(statement))
    await engine.dispose()


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database: `screen serve` must migrate it when it returns."""
    if not PG_URL.startswith("postgresql"):
        pytest.skip("an unreachable database is a network condition: PostgreSQL only")
    name = f"screen_outage_{uuid4().hex[:12]}"
    asyncio.run(_admin(PG_URL, f"CREATE DATABASE {name}"))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(PG_URL, f"DROP DATABASE {name} WITH (FORCE)"))


def _get(base: str, path: str) -> httpx.Response | None:
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(base + path, timeout=2)
    return None


@pytest.mark.postgres
@pytest.mark.slow  # a real `screen serve`, a few seconds of outage, a migration
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_started_during_a_database_outage_answers_503_until_it_returns(
    tmp_path: Path, empty_database: str, workers: int
) -> None:
    url = make_url(empty_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)  # not started: refused
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
    env.update(
        SCREEN_DATABASE_URL=url.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        ),
        SCREEN_SECRET_KEY="outage-secret-key-0123456789",
        SCREEN_MAIL_DIR=str(tmp_path / "mail"),
        SCREEN_BASE_URL=base,
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "screen",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    started = time.monotonic()
    try:
        while (alive := _get(base, "/healthz")) is None or alive.status_code != 200:
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() - started < 30, "screen serve did not start"
            time.sleep(0.1)
        up_after = time.monotonic() - started
        down = [_get(base, "/signin") for _ in range(10)]
        ready_down = _get(base, "/readyz")
        time.sleep(2)  # an outage of some seconds after the start
        assert server.poll() is None

        proxy.start()
        back_at = time.monotonic()
        while (page := _get(base, "/signin")) is None or page.status_code != 200:
            assert time.monotonic() - back_at < 30, "never served after the database returned"
            time.sleep(0.1)
        served_after = time.monotonic() - back_at
        # Every process's gate opens by itself (several processes share the port, and
        # each checks the schema on its own backoff).
        while not all(
            (reply := _get(base, "/signin")) is not None and reply.status_code == 200
            for _ in range(10)
        ):
            assert time.monotonic() - back_at < 30, "a web process never opened"
            time.sleep(0.2)
        all_served_after = time.monotonic() - back_at
        ready_back = _get(base, "/readyz")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        proxy.close()

    log = log_path.read_text()
    print(
        f"workers={workers}: /healthz up {up_after:.1f} s after start; first 200 "
        f"{served_after:.1f} s after the database returned, every request "
        f"{all_served_after:.1f} s after"
    )
    for reply in down:
        assert reply is not None and reply.status_code == 503, log
        assert reply.headers["retry-after"] == "5"
        assert OUTAGE_MESSAGE in reply.text
    assert ready_down is not None and ready_down.status_code == 503
    assert ready_back is not None and ready_back.status_code == 200
    assert log.count("cannot be reached at start") == 1, log
    assert "migrated" in log, log
