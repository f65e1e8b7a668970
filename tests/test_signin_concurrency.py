"""The per-account sign-in limit holds under concurrency across web processes.

Found by abuse testing: the failure count was read before the password was hashed and
written after, so 40 concurrent wrong passwords for one account were all checked (16 per
process, where the hashing queue refused the rest), and the right one then signed in.
Here two real `screen serve` processes, with production argon2 parameters, share one
database while 40 wrong passwords arrive at once, half at each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from screen.accounts.users import MAX_FAILURES_PER_ACCOUNT
from screen.platform.db import create_engine
from screen.platform.models import SignInFailure
from tests.support.smtp import free_port

PG_URL = os.environ.get("SCREEN_TEST_DATABASE_URL")
EMAIL = "target@example.com"
PASSWORD = "the-right-password-123"
GUESSES = 40
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text(statement))
    await engine.dispose()


@pytest.fixture(
    params=["sqlite", *([pytest.param("postgresql", marks=pytest.mark.postgres)] if PG_URL else [])]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: a SQLite file, or a fresh PostgreSQL database on the
    suite's server (the suite's own database is in use by the other tests' fixtures)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'signin.db'}"
        return
    assert PG_URL
    name = f"screen_signin_{uuid4().hex[:12]}"
    asyncio.run(_admin(PG_URL, f"CREATE DATABASE {name}"))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(PG_URL, f"DROP DATABASE {name} WITH (FORCE)"))


def _screen(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "screen", *args], env=env, check=True, capture_output=True
    )


async def _sign_in(base: str, password: str) -> int:
    """One browser's sign-in: the page (CSRF cookie and token), then the form."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        page = await client.get("/signin")
        match = _CSRF.search(page.text)
        assert match, page.text[:300]
        reply = await client.post(
            "/signin",
            data={"email": EMAIL, "password": password, "_csrf_token": match.group(1)},
        )
        return reply.status_code


async def _count_failures(url: str) -> int:
    engine = create_engine(url)
    async with engine.connect() as connection:
        count = await connection.scalar(
            select(func.count())
            .select_from(SignInFailure)
            .where(SignInFailure.account_key == EMAIL)
        )
    await engine.dispose()
    return int(count or 0)


@pytest.mark.slow  # two web processes and production argon2: about 5 s
def test_forty_concurrent_guesses_across_two_processes_check_at_most_five(
    tmp_path: Path, database_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
    env.update(
        SCREEN_DATABASE_URL=database_url,
        SCREEN_SECRET_KEY="signin-secret-key-0123456789",
        SCREEN_MAIL_DIR=str(tmp_path / "mail"),
    )
    _screen(env, "db", "upgrade")
    _screen(
        env,
        *("users", "create", "--email", EMAIL, "--name", "Target", "--role", "recruiter"),
        *("--password", PASSWORD),
    )
    ports = [free_port(), free_port()]
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "screen", "serve", "--port", str(port)],
            env={**env, "SCREEN_BASE_URL": f"http://127.0.0.1:{port}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base in bases:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                time.sleep(0.05)
            else:
                raise AssertionError(f"{base} did not start")

        async def burst() -> list[int]:
            return await asyncio.gather(
                *(_sign_in(bases[i % 2], f"wrong-guess-{i:04d}") for i in range(GUESSES))
            )

        statuses = asyncio.run(burst())
        right = [asyncio.run(_sign_in(base, PASSWORD)) for base in bases]
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    # 400 "do not match" is answered only after argon2 checked the guess; 429 before.
    checked = statuses.count(400)
    refused = statuses.count(429)
    print(f"guesses checked: {checked} of {GUESSES} across 2 processes; refused: {refused}")
    assert checked + refused == GUESSES, statuses
    assert 1 <= checked <= MAX_FAILURES_PER_ACCOUNT
    # Every checked guess left its failure row (and no refused one did).
    assert asyncio.run(_count_failures(database_url)) == checked
    # Locked: the right password is refused too, on either process, until the window passes.
    assert right == [429, 429]
