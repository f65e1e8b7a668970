"""The product behind PgBouncer in transaction pooling mode, the way a deployment past one
database's connection limit runs it (docs/operations.md#pgbouncer).

Each test starts its own PgBouncer (the machine's /usr/sbin/pgbouncer, or
SCREEN_PGBOUNCER) on a free port, with its own ini and user list in a temporary folder,
`pool_mode = transaction` and three server connections, in front of a database of its
own on the tests' PostgreSQL server; the system's PgBouncer configuration is never read.
Without PgBouncer the tests are skipped, saying why, unless SCREEN_E2E_REQUIRED=1 (CI),
where that is a failure.

What transaction pooling breaks is shown first: asyncpg's and SQLAlchemy's prepared
statement caches, as they are by default. Then the core loop runs through it with
SCREEN_DATABASE_POOLER=transaction on a real `screen serve`: migrations, invitations and
their emails from the outbox, a dozen candidates saving and submitting at once,
two reviewers claiming and scoring at once, the decisions, the similar-answer check and
the CSV export (COPY) — many more clients than server connections, so every server
connection serves many clients in turn.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from screen.platform.db import create_engine, create_sessionmaker
from screen.platform.models import Decision, Review, SimilarityMatch
from tests.support.answers import ANSWER_A, ANSWER_B, paraphrase
from tests.support.factories import PASSWORD, make_candidate, make_screen, make_user
from tests.support.processes import LoggedProcess
from tests.support.smtp import SmtpServer, free_port

PG_URL = os.environ.get("SCREEN_TEST_DATABASE_URL")
PGBOUNCER = os.environ.get("SCREEN_PGBOUNCER", "/usr/sbin/pgbouncer")
REQUIRED = os.environ.get("SCREEN_E2E_REQUIRED") == "1"
ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "tests" / "data" / "prompts"
SERVER_CONNECTIONS = 3
CANDIDATES = 12
SAVES = 4
DIMENSIONS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
JSON = {"Accept": "application/json"}
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')

pytestmark = [
    pytest.mark.skipif(
        not (PG_URL and PG_URL.startswith("postgresql")),
        reason="needs SCREEN_TEST_DATABASE_URL (PostgreSQL) for PgBouncer to stand in front of",
    ),
    pytest.mark.postgres,
    pytest.mark.slow,
]


@dataclass
class Bouncer:
    url: str  # SQLAlchemy URL of the database through PgBouncer
    database: str  # its name on the PostgreSQL server behind


def _missing() -> str | None:
    if not Path(PGBOUNCER).is_file():
        return f"PgBouncer is not installed at {PGBOUNCER} (Debian: apt-get install pgbouncer)"
    return None


async def _admin(statement: str, *args: object) -> list[asyncpg.Record]:
    """On the PostgreSQL server directly, not through PgBouncer."""
    assert PG_URL
    url = make_url(PG_URL).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        if args:
            rows: list[asyncpg.Record] = await conn.fetch(statement, *args)
            return rows
        await conn.execute(statement)
        return []
    finally:
        await conn.close()


def _start_pgbouncer(folder: Path, database: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    assert PG_URL
    server = make_url(PG_URL)
    port = free_port()
    user = server.username or "postgres"
    (folder / "userlist.txt").write_text(f'"{user}" "{server.password or ""}"\n')
    (folder / "pgbouncer.ini").write_text(
        f"""[databases]
screen = host={server.host or "127.0.0.1"} port={server.port or 5432} dbname={database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "userlist.txt"}
pool_mode = transaction
default_pool_size = {SERVER_CONNECTIONS}
max_db_connections = {SERVER_CONNECTIONS}
max_client_conn = 500
"""
    )
    for path in folder.iterdir():
        path.chmod(0o644)
    argv = [PGBOUNCER]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root; it reads its files and then becomes this user.
        argv += ["-u", pwd.getpwuid(65534).pw_name if _has_uid(65534) else "nobody"]
    argv.append(str(folder / "pgbouncer.ini"))
    log = folder / "pgbouncer.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    return process, port, log


def _has_uid(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


async def _until_answering(dsn: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            raise AssertionError(f"PgBouncer exited:\n{log.read_text(errors='replace')}")
        try:
            conn = await asyncpg.connect(dsn, statement_cache_size=0)
        except (OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"PgBouncer did not answer:\n{log.read_text(errors='replace')}"
                ) from None
            await asyncio.sleep(0.1)
            continue
        await conn.close()
        return


@pytest.fixture
async def bouncer() -> AsyncIterator[Bouncer]:
    missing = _missing()
    if missing:
        if REQUIRED:
            pytest.fail(f"SCREEN_E2E_REQUIRED=1 but {missing}")
        pytest.skip(missing)
    assert PG_URL
    server = make_url(PG_URL)
    database = f"{server.database}_pgbouncer_{os.getpid()}"
    await _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{database}"')
    # Not pytest's tmp_path: that is private to root, and PgBouncer reads its files as
    # the unprivileged user it switches to.
    folder = Path(tempfile.mkdtemp(prefix="screen-pgbouncer-"))
    folder.chmod(0o755)
    process, port, log = _start_pgbouncer(folder, database)
    try:
        user = server.username or "postgres"
        await _until_answering(f"postgresql://{user}@127.0.0.1:{port}/screen", process, log)
        url = server.set(host="127.0.0.1", port=port, database="screen")
        yield Bouncer(url.render_as_string(hide_password=False), database)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(folder, ignore_errors=True)
        await _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def _many_clients(url: str, pooler: str | None) -> list[BaseException]:
    """Twelve pooled connections running the same few statements in transactions of
    their own, round after round: what every request of the app does."""
    engine = create_engine(url, pool_size=12, pooler=pooler)
    errors: list[BaseException] = []

    async def client(index: int) -> None:
        for round_ in range(6):
            try:
                async with engine.begin() as conn:
                    value = await conn.scalar(text("SELECT CAST(:n AS integer) + 1"), {"n": index})
                    assert value == index + 1
                    await conn.execute(
                        text("SELECT count(*) FROM pg_class WHERE relpages > :p"), {"p": round_}
                    )
            except Exception as error:  # collected: the test shows which ones
                errors.append(error)
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(client(index) for index in range(12)))
    finally:
        await engine.dispose()
    return errors


async def test_prepared_statement_caches_break_under_transaction_pooling(bouncer: Bouncer) -> None:
    without = await _many_clients(bouncer.url, pooler=None)
    with_setting = await _many_clients(bouncer.url, pooler="transaction")

    assert without, "the statement caches survived transaction pooling: the setting is moot"
    assert all("prepared statement" in str(error) for error in without), without[:3]
    assert with_setting == []


# --- the core loop through a real `screen serve` --------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


async def _sign_in(client: httpx.AsyncClient, email: str) -> None:
    page = await client.get("/signin")
    match = _CSRF.search(page.text)
    assert match, "no CSRF token on /signin"
    response = await client.post(
        "/signin", data={"email": email, "password": PASSWORD, "_csrf_token": match.group(1)}
    )
    assert response.status_code == 303, response.text[:500]


def _form(client: httpx.AsyncClient, data: dict[str, str] | None = None) -> dict[str, str]:
    token = client.cookies.get("screen_csrf")
    assert token, "no CSRF cookie"
    return {**(data or {}), "_csrf_token": token}


def _scores(level: int) -> dict[str, str]:
    form = {f"level.{key}": str(level) for key in DIMENSIONS}
    form.update(
        {f"evidence.{key}": "Cites the p95 figure and the monthly cost." for key in DIMENSIONS}
    )
    form["recommendation"] = "yes" if level >= 3 else "no"
    form["action"] = "submit"
    return form


async def _candidate(base_url: str, token: str, answer: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30, follow_redirects=True) as client:
        landing = await client.get(f"/s/{token}")
        assert landing.status_code == 200
        started = await client.post(
            f"/s/{token}/start",
            data={"acknowledge": "yes", "ai_policy": f"no_ai:{_policy_version()}"},
        )
        assert started.status_code == 200, started.text[:500]  # followed to the attempt page
        revision = 0
        words = answer.split()
        for save in range(1, SAVES + 1):
            draft = " ".join(words[: len(words) * save // SAVES])
            saved = await client.post(
                f"/s/{token}/draft", json={"revision": revision, "answer": draft}, headers=JSON
            )
            assert saved.status_code == 200, saved.text[:500]
            revision = saved.json()["revision"]
        submitted = await client.post(
            f"/s/{token}/submit", data={"revision": str(revision), "answer": answer}
        )
        assert submitted.status_code == 200, submitted.text[:500]
        assert "Thank you" in submitted.text


def _policy_version() -> str:
    from screen.recruiting.ai_policy import POLICY_VERSION

    return str(POLICY_VERSION)


async def _review_everything(base_url: str, email: str, level: int) -> int:
    scored = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await _sign_in(client, email)
        while True:
            claimed = await client.post("/review/next", data=_form(client), follow_redirects=False)
            assert claimed.status_code == 303, claimed.text[:500]
            location = claimed.headers["location"]
            if "empty=1" in location:
                return scored
            page = await client.get(location)
            assert page.status_code == 200
            saved = await client.post(
                location, data=_form(client, _scores(level)), follow_redirects=False
            )
            assert saved.status_code == 303, saved.text[:500]
            scored += 1


async def _until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within:.0f} s")
        await asyncio.sleep(0.2)


async def test_the_core_loop_runs_through_transaction_pooling(
    bouncer: Bouncer, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    from screen.settings import Settings

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")},
        "SCREEN_DATABASE_URL": bouncer.url,
        "SCREEN_DATABASE_POOLER": "transaction",
        "SCREEN_DATABASE_POOL_SIZE": "8",
        "SCREEN_SECRET_KEY": "pgbouncer-test-secret-0123456789",
        "SCREEN_BASE_URL": base_url,
        "SCREEN_SMTP_URL": f"smtp://127.0.0.1:{smtp_server.port}",
        "SCREEN_MAIL_DIR": str(tmp_path / "mail"),
        "SCREEN_PROMPTS_DIR": str(PROMPTS),
        "SCREEN_SWEEP_INTERVAL_SECONDS": "0.3",
    }
    server = LoggedProcess("screen serve", tmp_path / "serve.log", stop_within=20)
    # `screen serve` migrates the empty database first, through PgBouncer.
    server.start(
        [sys.executable, "-m", "screen", "serve", "--host", "127.0.0.1", "--port", str(port)],
        ready_url=f"{base_url}/healthz",
        within=90,
        env=env,
    )
    engine = create_engine(bouncer.url, pool_size=4, pooler="transaction")
    try:
        settings = Settings(
            database_url=bouncer.url,
            secret_key=env["SCREEN_SECRET_KEY"],
            base_url=base_url,
        )
        now = datetime.now(UTC)
        async with create_sessionmaker(engine)() as db:
            screen = await make_screen(db, now, reviews_required=2)
            await db.commit()
            recruiter = await make_user(db, now, "recruiter", email="rita@staff.example")
            reviewers = [
                await make_user(db, now, "reviewer", email=f"rev{n}@staff.example") for n in (1, 2)
            ]
            # Invited through the rule `screen invite` and the recruiter's page use: each
            # commits the invitation and its email in the outbox.
            candidates = [
                await make_candidate(
                    db, settings, now, screen=screen, name=f"Cand {n}", email=f"c{n}@example.com"
                )
                for n in range(CANDIDATES)
            ]
        answers = [ANSWER_A, paraphrase(ANSWER_A, 0.2, seed=5)] + [
            paraphrase(ANSWER_B, 0.6, seed=n) for n in range(2, CANDIDATES)
        ]

        # The outbox relay in the web process sends every invitation.
        await smtp_server.inbox.wait_for(CANDIDATES, within_seconds=30)
        # A dozen candidates at once: landing, start, saves, submit.
        await asyncio.gather(
            *(
                _candidate(base_url, c.token, answer)
                for c, answer in zip(candidates, answers, strict=True)
            )
        )
        # Two reviewers at once, claiming until the queue is empty.
        scored = await asyncio.gather(
            _review_everything(base_url, reviewers[0].email, 3),
            _review_everything(base_url, reviewers[1].email, 3),
        )
        async with create_sessionmaker(engine)() as db:

            async def similar() -> bool:
                return bool(await db.scalar(select(func.count()).select_from(SimilarityMatch)))

            await _until(similar, 30, "the similar-answer check")
            decided = await db.scalar(select(func.count()).select_from(Decision))
            submitted = await db.scalar(
                select(func.count()).select_from(Review).where(Review.status == "submitted")
            )
            pairs = {
                (m.attempt_id, m.other_attempt_id)
                for m in await db.scalars(select(SimilarityMatch))
            }
        first, second = (c.invitation.attempt.id for c in candidates[:2])

        async with httpx.AsyncClient(base_url=base_url, timeout=30) as recruiting:
            await _sign_in(recruiting, recruiter.email)
            export = await recruiting.get(f"/recruiter/screens/{screen.id}/export?format=csv")
        # Counted on the PostgreSQL server behind PgBouncer.
        activity = await _admin(
            "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = $1) AS backends, "
            "(SELECT xact_commit FROM pg_stat_database WHERE datname = $1) AS commits",
            bouncer.database,
        )
    finally:
        await engine.dispose()
        server.stop()
    log = (tmp_path / "serve.log").read_text(errors="replace")

    assert sum(scored) == 2 * CANDIDATES and submitted == 2 * CANDIDATES
    assert decided == CANDIDATES
    assert (first, second) in pairs and (second, first) in pairs
    assert export.status_code == 200, export.text[:500]
    rows = [line for line in export.text.splitlines() if line.strip()]
    assert len(rows) == CANDIDATES + 1  # the header and one row per candidate
    assert all(f"c{n}@example.com" in export.text for n in range(CANDIDATES))
    # The app's 8 pooled connections, the test's 4 and a dozen candidates at once went
    # through three server connections, each serving many clients' transactions in turn.
    assert activity[0]["backends"] <= SERVER_CONNECTIONS
    assert activity[0]["commits"] > 100 * SERVER_CONNECTIONS
    assert "prepared statement" not in log and "Traceback" not in log, log[-3000:]
