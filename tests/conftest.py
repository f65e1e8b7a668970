"""Shared fixtures: a migrated database per backend, a frozen clock, the app and its client,
a real SMTP server, the suite's Redis database; and the markers applied from here.

Every test runs on SQLite; when SCREEN_TEST_DATABASE_URL is set it runs again on
that PostgreSQL (those variants carry the `postgres` marker). The schema comes from
`alembic upgrade head`, so migrations are exercised on every run. Tests are isolated by
emptying every table before each test rather than by a rolled-back outer transaction,
because several tests need real concurrent connections (claims, the in-process runner,
worker processes). Tests marked `redis` are skipped unless SCREEN_TEST_REDIS_URL is set.
Helpers and factories live in tests/support; see docs/testing.md.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

# First: gives this xdist worker its own test database and Redis db before anything reads them.
import tests.support.per_worker
from screen.accounts.users import use_password_hasher
from screen.app import create_app
from screen.platform import migrate
from screen.platform.clock import FrozenClock
from screen.platform.db import Base, create_engine, create_sessionmaker
from screen.platform.jobs import InProcessRunner, JobContext
from screen.platform.mail import FolderMailer
from screen.platform.rendering import create_environment
from screen.registry import REGISTRY
from screen.settings import Settings
from tests.support.smtp import SmtpServer
from tests.support.worker import REDIS_URL

try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pytest-xdist is a test extra; without it the suite runs in one process
    LoadScopeScheduling = None

DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("SCREEN_TEST_DATABASE_URL")
BACKENDS = [
    "sqlite",
    *([pytest.param("postgresql", marks=pytest.mark.postgres)] if PG_URL else []),
]
# argon2 at its cheapest: the suite signs in hundreds of times, at ~150 ms each with the
# production parameters. Those are covered by test_accounts.py (in a fresh interpreter),
# and its pacing test sets them for itself.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if REDIS_URL:
        return
    skip = pytest.mark.skip(reason="set SCREEN_TEST_REDIS_URL to run arq")
    for item in items:
        if item.get_closest_marker("redis"):
            item.add_marker(skip)


if LoadScopeScheduling is not None:

    class BrowserTestsBeside(LoadScopeScheduling):  # type: ignore[misc]
        """With `-n 2` (the README's command) the browser tests run together in one worker
        (they share its browser and app server), and the other tests spread over both
        workers by module: each worker has its own test databases and Redis db
        (tests/support/per_worker.py). The browser tests are collected first, so they
        start at once; the rest fill both workers as they free up."""

        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith("tests/e2e/"):
                return "browser"
            return str(super()._split_scope(nodeid))

    # optionalhook: `-p no:xdist` leaves xdist importable but its hooks unknown.
    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
        return BrowserTestsBeside(config, log)


def pytest_sessionfinish() -> None:
    tests.support.per_worker.drop_own_database()


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> None:
    use_password_hasher(CHEAP_HASHER)


@pytest.fixture(scope="session", params=BACKENDS)
async def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'screen-test.db'}"
        engine = create_engine(url)
    else:
        assert PG_URL
        engine = create_engine(PG_URL)
        async with engine.begin() as connection:
            # A clean schema each run, so the migrations really create everything.
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    # Deleting the rows the counters count fires their triggers: counters last.
    counters = ("screen_counts", "prompt_counts", "answer_flags")
    tables = [*(t for t in tables if t not in counters), *counters]
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await connection.execute(text(f"DELETE FROM {table}"))
    return create_sessionmaker(engine)


@pytest.fixture
async def db(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for arranging and checking data; commit what the app must see."""
    async with sessionmaker() as session:
        yield session


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def settings(mail_dir: Path, engine: AsyncEngine) -> Settings:
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        secret_key="test-secret-key-0123456789",
        base_url="http://testserver.local",
        mail_dir=mail_dir,
        prompts_dir=DATA / "prompts",
        allow_private_targets=True,  # the suite's receivers listen on 127.0.0.1
    )


@pytest.fixture
def app(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    mail_dir: Path,
) -> Litestar:
    # The app builds its own engine from the settings: the test client serves it from
    # another event loop, and asyncpg connections belong to the loop that opened them.
    del sessionmaker  # requested only so the tables are emptied first

    def make_app() -> Litestar:
        app = create_app(settings, clock=clock, mailer=FolderMailer(mail_dir), run_jobs=False)
        app.state.make_app = make_app
        return app

    return make_app()


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


@pytest.fixture
async def runner(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    mail_dir: Path,
) -> AsyncIterator[InProcessRunner]:
    """The in-process job runner, driven by hand: `await runner.tick()`, `await runner.drain()`.

    Built in the test's own event loop (the test client serves the app from another).
    """
    runner = InProcessRunner(REGISTRY.jobs, interval_seconds=3600)
    runner.context = JobContext(
        settings,
        sessionmaker,
        clock,
        FolderMailer(mail_dir),
        create_environment(),
        runner,
        REGISTRY.outbox_handlers,
    )
    yield runner
    await runner.drain()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback for this test; `smtp.inbox` holds what it received."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
async def redis_url() -> str:
    """SCREEN_TEST_REDIS_URL, emptied: the test Redis database belongs to the suite."""
    assert REDIS_URL
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    await client.aclose()
    return REDIS_URL


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The app under test is configured only through the Settings passed to it.
    for name in list(os.environ):
        if name.startswith("SCREEN_") and not name.startswith("SCREEN_TEST_"):
            monkeypatch.delenv(name)
