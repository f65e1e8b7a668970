"""What every scenario shares: the scratch database, Redis, sizes, servers and seeding.

The harness owns one PostgreSQL database (default `screen_bench_harness`, created and
dropped by it; its name must contain "bench" so a typo can never point it at real data,
and it refuses one that others are connected to) and one Redis database (default db 3;
never db 0). Scenarios that can share seeded data
and servers (autosave, the candidate page, sign-in isolation) share one *fixture*;
asking for another fixture closes the current one (its servers stop) and re-creates
the database, so each group starts from a clean schema made by the real migrations.
"""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import asyncpg

from bench import procs
from bench.load import LoadResult, LoadSpec, run_load

T = TypeVar("T")
SECRET = "bench-secret-key-0123456789"
BASE_URL = "http://bench.local"
# Not `screen_bench`: that is where the per-path scripts this harness replaced put their data.
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/screen_bench_harness"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"


class Fixture(Protocol):
    def close(self) -> None: ...


# The columns a submitted attempt is seeded with by COPY (claims and exports).
SUBMITTED_ATTEMPT_COLUMNS = (
    "id",
    "invitation_id",
    "state",
    "started_at",
    "deadline",
    "revision",
    "draft",
    "final_answer",
    "submitted_at",
    "ended_by",
    "state_changed_at",
)


@dataclass
class Sizes:
    """Everything --quick shrinks."""

    duration: float  # seconds of load per measurement
    warmup: float  # seconds of load before the measured runs (0: none)
    connections: int
    claim_slots: int
    claim_slots_large: int
    claims_per_run: int
    export_rows_small: int
    export_rows_large: int
    emails: int
    privacy_candidates: int = 100_000
    scale_small: int = 10_000
    scale_large: int = 200_000

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            duration=10,
            warmup=2,
            connections=64,
            claim_slots=10_000,
            claim_slots_large=1_000_000,
            claims_per_run=4_000,
            export_rows_small=10_000,
            export_rows_large=100_000,
            emails=5_000,
        )

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            duration=1,
            warmup=0,
            connections=64,
            claim_slots=200,
            claim_slots_large=2_000,
            claims_per_run=100,
            export_rows_small=200,
            export_rows_large=2_000,
            emails=60,
            privacy_candidates=200,
            scale_small=200,
            scale_large=2_000,
        )


@dataclass
class Env:
    database_url: str
    redis_url: str
    runs: int
    quick: bool
    generator: str
    workdir: Path
    sizes: Sizes
    log: Callable[[str], None] = print
    _fixture: tuple[str, Fixture] | None = None
    redis_used: bool = False
    database_created: bool = False

    # --- where things are ---------------------------------------------------------------

    @property
    def dsn(self) -> str:
        """The asyncpg form of the database URL."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    @property
    def database_name(self) -> str:
        return urlsplit(self.dsn).path.lstrip("/")

    @property
    def admin_dsn(self) -> str:
        return self.dsn.rsplit("/", 1)[0] + "/postgres"

    @property
    def redis_db(self) -> int:
        path = urlsplit(self.redis_url).path.lstrip("/")
        return int(path) if path.isdigit() else 0

    def check_targets(self) -> None:
        """Refuse anything that is not plainly a scratch database."""
        # The app and the harness both speak asyncpg: a plain postgresql:// URL would pass a
        # looser check and fail in the first scenario, on a driver that is not installed.
        if not self.database_url.startswith("postgresql+asyncpg://"):
            scheme = self.database_url.split("://", 1)[0] if "://" in self.database_url else ""
            raise SystemExit(
                "The benchmark needs PostgreSQL through asyncpg: --database-url "
                f"postgresql+asyncpg://user@host:port/screen_bench (got {scheme or 'no'} scheme)."
            )
        name = self.database_name
        if "bench" not in name or name.startswith("template"):
            raise SystemExit(
                f"Refusing database {name!r}: the harness drops and re-creates its database, "
                "so its name must contain 'bench' (e.g. screen_bench)."
            )
        redis = urlsplit(self.redis_url)
        if redis.scheme not in ("redis", "rediss") or not (
            redis.path.lstrip("/").isdigit() or redis.path in ("", "/")
        ):
            raise SystemExit(
                "--redis-url must be redis://host:port/N (or rediss://), N a spare db number "
                f"other than 0 (got {self.redis_url!r})."
            )
        if self.redis_db == 0:
            raise SystemExit(
                "Refusing Redis db 0: the harness flushes its Redis database; "
                "give it a spare one (default redis://127.0.0.1:6379/3)."
            )

    def app_env(self, **extra: str) -> dict[str, str]:
        """SCREEN_ settings of a real app or worker process, production-shaped: PostgreSQL,
        and Redis configured so the web process leaves jobs to `screen worker`."""
        env = {
            "SCREEN_DATABASE_URL": self.database_url,
            "SCREEN_REDIS_URL": self.redis_url,
            "SCREEN_SECRET_KEY": SECRET,
            "SCREEN_BASE_URL": BASE_URL,
            "SCREEN_MAIL_DIR": str(self.workdir / "mail"),
        }
        env.update(extra)
        return env

    # --- the database -------------------------------------------------------------------

    async def recreate_database(self) -> None:
        from screen.platform import migrate
        from screen.platform.db import create_engine

        admin = await asyncpg.connect(self.admin_dsn)
        try:
            if not self.database_created:
                await self._refuse_if_in_use(admin)
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{self.database_name}"')
        finally:
            await admin.close()
        self.database_created = True
        engine = create_engine(self.database_url)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    async def _refuse_if_in_use(self, admin: asyncpg.Connection) -> None:
        """Another run (or anyone) connected to the database: dropping it would pull the
        rug from under them, so stop and say so."""
        sessions = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", self.database_name
        )
        if sessions:
            raise SystemExit(
                f"Database {self.database_name!r} has {sessions} open connection(s): another "
                "benchmark may be using it. Wait for it, or give this run its own with "
                "--database-url …/screen_bench_<something>."
            )

    async def drop_database(self) -> None:
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def flush_redis(self) -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(self.redis_url)
        try:
            await client.flushdb()
        finally:
            await client.aclose()
        self.redis_used = True

    # --- fixtures -----------------------------------------------------------------------

    def fixture(self, name: str, build: Callable[[Env], T]) -> T:
        """The fixture `name`, built on a fresh database unless it is the current one."""
        if self._fixture and self._fixture[0] == name:
            return self._fixture[1]  # type: ignore[return-value]
        self.close_fixture()
        asyncio.run(self.recreate_database())
        built = build(self)
        self._fixture = (name, built)  # type: ignore[assignment]
        return built

    def close_fixture(self) -> None:
        if self._fixture:
            _, fixture = self._fixture
            self._fixture = None
            fixture.close()

    def cleanup(self, keep_database: bool) -> None:
        self.close_fixture()
        procs.stop_all()
        if self.database_created and not keep_database:
            asyncio.run(self.drop_database())
        if self.redis_used:
            asyncio.run(self.flush_redis())

    # --- load ---------------------------------------------------------------------------

    def load(self, server: procs.Server, spec: LoadSpec) -> tuple[LoadResult, float]:
        """Run `spec` against `server`; also returns the server's CPU use (share of one core)."""
        cpu_before = server.proc.cpu_seconds()
        wall_before = time.monotonic()
        result = run_load(self.generator, server.url, spec)
        wall = time.monotonic() - wall_before
        return result, (server.proc.cpu_seconds() - cpu_before) / wall if wall else 0.0


def run_async(work: Awaitable[T]) -> T:
    return asyncio.run(work)  # type: ignore[arg-type]


async def connect(env: Env) -> asyncpg.Connection:
    return await asyncpg.connect(env.dsn)


async def copy_rows(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    await conn.copy_records_to_table(table, columns=list(columns), records=rows)


async def sync_sequences(conn: asyncpg.Connection, tables: Iterable[str]) -> None:
    """After COPY with explicit ids, move each id sequence past them so the app's own
    inserts do not collide."""
    for table in tables:
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
        )


async def library_screen(
    env: Env, title: str, *, reviews_required: int | None = None, calibration: bool = False
) -> tuple[int, str, list[str]]:
    """Sync the shipped prompt library and create a screen on its first prompt through the
    app's own functions; returns (screen id, prompt slug, rubric dimension keys)."""
    from screen.platform.db import create_engine, create_sessionmaker
    from screen.platform.paths import PROMPTS_DIR
    from screen.recruiting.prompts import check_library, sync_library
    from screen.recruiting.screens import create_screen

    now = datetime.now(UTC)
    library = check_library(PROMPTS_DIR)
    if library.problems or not library.prompts:
        raise RuntimeError(f"prompt library at {PROMPTS_DIR} has problems: {library.problems}")
    engine = create_engine(env.database_url)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            await sync_library(db, library.prompts, now)
            screen = await create_screen(
                db,
                prompt_slug=library.prompts[0].slug,
                title=title,
                now=now,
                duration_minutes=45,
                reviews_required=reviews_required,
                calibration_threshold=0.8 if calibration else None,
                actor="bench",
            )
            keys = [str(d["key"]) for d in screen.prompt.rubric.get("dimensions") or []]
            return screen.id, screen.prompt.slug, keys
    finally:
        await engine.dispose()


async def invite_candidates(
    env: Env, screen_id: int, count: int, prefix: str, *, accommodation: float = 1.0
) -> list[str]:
    """Invite `count` candidates through `screen.recruiting.invitations.invite` (token, attempt,
    outbox email, signal): returns their link tokens."""
    from screen.platform.db import create_engine, create_sessionmaker
    from screen.recruiting.invitations import invite
    from screen.recruiting.screens import get_screen

    now = datetime.now(UTC)
    tokens = []
    engine = create_engine(env.database_url)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            screen = await get_screen(db, screen_id)
            for index in range(count):
                new = await invite(
                    db,
                    screen,
                    name=f"Bench Candidate {prefix} {index}",
                    email=f"{prefix}{index}@bench.example.com",
                    now=now,
                    base_url=BASE_URL,
                    secret_key=SECRET,
                    accommodation=accommodation,
                    actor="bench",
                )
                tokens.append(new.link.rsplit("/", 1)[1])
    finally:
        await engine.dispose()
    return tokens


async def add_staff(env: Env, role: str, count: int, prefix: str) -> list[tuple[int, str]]:
    """Staff accounts (no password: they are given sessions directly) and a session token
    each, exactly as a sign-in stores it: [(user id, session cookie value)]."""
    from screen.platform.tokens import hash_token, new_token

    now = datetime.now(UTC)
    conn = await connect(env)
    try:
        out = []
        for index in range(count):
            user_id = await conn.fetchval(
                "INSERT INTO users (email, name, password_hash, created_at, "
                "password_changed_at) VALUES ($1, $2, '-', $3, $3) RETURNING id",
                f"{prefix}{index}@bench.example.com",
                f"{prefix.title()} {index}",
                now,
            )
            await conn.execute(
                "INSERT INTO user_roles (user_id, role) VALUES ($1, $2)", user_id, role
            )
            token = new_token()
            await conn.execute(
                "INSERT INTO user_sessions (token_hash, user_id, created_at, last_seen_at, "
                "expires_at) VALUES ($1, $2, $3, $3, $4)",
                hash_token(token),
                user_id,
                now,
                now + timedelta(hours=11),
            )
            out.append((user_id, token))
        return out
    finally:
        await conn.close()


def csrf_token(server: procs.Server) -> str:
    """A CSRF cookie value from the sign-in page, for POSTs with the session cookie."""
    import httpx

    response = httpx.get(f"{server.url}/signin", timeout=10)
    token = response.cookies.get("screen_csrf")
    if not token:
        raise RuntimeError("the sign-in page set no screen_csrf cookie")
    return token


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=5)
        wrk_version = (wrk.stdout or wrk.stderr).splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        wrk_version = None
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version,
        "load_average_at_start": os.getloadavg(),
    }


async def check_reachable(env: Env, connect_seconds: float = 5.0) -> None:
    """One line instead of a traceback when PostgreSQL or Redis does not answer: before
    anything is started, so nothing is left to clean up."""
    from redis.asyncio import Redis

    postgres = urlsplit(env.admin_dsn)
    try:
        conn = await asyncpg.connect(env.admin_dsn, timeout=connect_seconds)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise SystemExit(
            f"Cannot connect to PostgreSQL at {postgres.hostname}:{postgres.port or 5432} "
            f"({type(error).__name__}: {error}): start it or fix --database-url."
        ) from None
    await conn.close()
    redis = urlsplit(env.redis_url)
    client = Redis.from_url(
        env.redis_url, socket_connect_timeout=connect_seconds, socket_timeout=connect_seconds
    )
    try:
        await client.ping()
    except Exception as error:  # redis-py's ConnectionError, TimeoutError, AuthenticationError
        raise SystemExit(
            f"Cannot connect to Redis at {redis.hostname}:{redis.port or 6379} "
            f"({type(error).__name__}: {error}): start it or fix --redis-url."
        ) from None
    finally:
        await client.aclose()


async def server_version(env: Env) -> str:
    conn = await asyncpg.connect(env.admin_dsn)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
