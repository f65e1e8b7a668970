"""Staff accounts: sign-in, sessions that rotate and expire, rate limits, the CLI."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts import users
from screen.accounts.users import MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_CLIENT
from screen.cli import main
from screen.platform.clock import FrozenClock
from screen.platform.models import Review, ReviewStatus, User, UserSession
from screen.settings import Settings
from tests.support.factories import PASSWORD, make_submitted, make_user
from tests.support.staff import csrf_token, post_form, sign_in

Client = AsyncTestClient[Litestar]


async def test_signing_in_lands_on_the_role_home_and_signing_out_ends_the_session(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")

    response = await sign_in(client, reviewer.email.upper())
    queue = await client.get("/review")
    signed_out = await post_form(client, "/signout", follow_redirects=False)
    after = await client.get("/review", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/review"
    cookie = response.headers["set-cookie"]
    assert "screen_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert queue.status_code == 200
    assert signed_out.status_code == 303
    assert after.status_code == 303
    assert after.headers["location"] == "/signin?next=/review"
    assert await db.scalar(select(func.count()).select_from(UserSession)) == 0


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")

    wrong_password = await sign_in(client, reviewer.email, "not the password")
    unknown_user = await sign_in(client, "nobody@staff.example", PASSWORD)

    for response in (wrong_password, unknown_user):
        assert response.status_code == 400
        assert "do not match an active account" in response.text
    assert client.cookies.get("screen_session") is None


async def test_the_session_rotates_on_sign_in(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, reviewer.email)
        first = client.cookies.get("screen_session")
        await sign_in(client, reviewer.email)
        second = client.cookies.get("screen_session")

    assert first and second and first != second
    assert await db.scalar(select(func.count()).select_from(UserSession)) == 1


async def test_a_session_survives_another_web_process_and_then_expires_when_idle(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as first:
        await sign_in(first, reviewer.email)
        cookie = first.cookies.get("screen_session")
    other_process = app.state.make_app()

    async with AsyncTestClient(app=other_process, base_url="http://testserver.local") as second:
        second.cookies.set("screen_session", cookie or "")
        clock.advance(minutes=90)
        still_in = await second.get("/review")
        clock.advance(minutes=119)
        active = await second.get("/review")
        clock.advance(minutes=121)
        idle = await second.get("/review", follow_redirects=False)

    assert still_in.status_code == 200
    assert active.status_code == 200
    assert idle.status_code == 303
    assert idle.headers["location"].startswith("/signin")


async def test_a_session_ends_after_twelve_hours_even_when_active(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await sign_in(client, reviewer.email)

    for _ in range(12):
        clock.advance(minutes=59)
        assert (await client.get("/review")).status_code == 200
    clock.advance(minutes=13)
    expired = await client.get("/review", follow_redirects=False)

    assert expired.status_code == 303


async def test_disabling_a_user_ends_their_session_at_once(
    client: Client, db: AsyncSession, clock: FrozenClock, tmp_path: Path, settings: Settings
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await make_submitted(db, settings, clock.now())
    await sign_in(client, reviewer.email)
    claimed = await post_form(client, "/review/next", follow_redirects=False)
    assert claimed.headers["location"].startswith("/review/")
    from screen.accounts.users import disable_user

    user = await db.get(User, reviewer.id)
    assert user is not None
    await disable_user(db, user, clock.now(), actor="test")
    await db.commit()

    response = await client.get("/review", follow_redirects=False)
    again = await sign_in(client, reviewer.email)

    assert response.status_code == 303
    assert again.status_code == 400
    # What they held is back in the queue at once, not after their lease.
    review_id = int(claimed.headers["location"].rsplit("/", 1)[1])
    review = await db.get(Review, review_id, populate_existing=True)
    assert review is not None
    assert (review.status, review.reviewer_id) == (ReviewStatus.OPEN, None)


async def test_sign_in_is_rate_limited_per_account(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")

    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        assert (await sign_in(client, reviewer.email, "wrong password!")).status_code == 400
    blocked = await sign_in(client, reviewer.email)  # even the right password
    clock.advance(minutes=16)
    later = await sign_in(client, reviewer.email)

    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.text
    assert later.status_code == 303


async def test_sign_in_is_rate_limited_per_client_address(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")

    for index in range(MAX_FAILURES_PER_CLIENT):
        await sign_in(client, f"guess{index}@staff.example", "wrong password!")
    blocked = await sign_in(client, reviewer.email)

    assert blocked.status_code == 429


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer")
    await csrf_token(client)

    no_token = await client.post(
        "/signin", data={"email": reviewer.email, "password": PASSWORD}, follow_redirects=False
    )
    forged = await client.post(
        "/signin",
        data={"email": reviewer.email, "password": PASSWORD, "_csrf_token": "forged" * 10},
        follow_redirects=False,
    )
    await sign_in(client, reviewer.email)
    claim = await client.post("/review/next", follow_redirects=False)

    for response in (no_token, forged, claim):
        assert response.status_code == 403
        assert "Reload the page and try again" in response.text
        assert "This form has expired" in response.text  # not "You do not have access"
        assert "You do not have access" not in response.text
    assert await db.scalar(select(func.count()).select_from(UserSession)) == 1


def test_users_are_managed_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCREEN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0

    created = runner.invoke(
        main,
        ["users", "create", "--email", "Lea@Staff.example", "--name", "Lea", "--role", "lead"],
        input="a long enough password\na long enough password\n",
    )
    short = runner.invoke(
        main,
        [
            "users",
            "create",
            "--email",
            "x@staff.example",
            "--name",
            "X",
            "--role",
            "reviewer",
            "--password",
            "short",
        ],
    )
    duplicate = runner.invoke(
        main,
        [
            "users",
            "create",
            "--email",
            "lea@staff.example",
            "--name",
            "Lea",
            "--role",
            "lead",
            "--password",
            "another long password",
        ],
    )
    changed = runner.invoke(
        main, ["users", "set-password", "--email", "lea@staff.example", "--password", "x" * 12]
    )
    disabled = runner.invoke(main, ["users", "disable", "--email", "lea@staff.example"])
    listed = runner.invoke(main, ["users", "list"])
    missing = runner.invoke(main, ["users", "disable", "--email", "ghost@staff.example"])

    assert created.exit_code == 0, created.output
    assert "Created lead Lea <lea@staff.example>" in created.output
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    assert changed.exit_code == 0 and "sessions have ended" in changed.output
    assert disabled.exit_code == 0
    assert "lea@staff.example  Lea  (disabled)" in listed.output
    assert missing.exit_code == 1 and "No user with email" in missing.output


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priority is a Linux feature")
async def test_passwords_are_hashed_in_one_low_priority_thread() -> None:
    """A burst of sign-ins must not take cores from the requests being served."""
    seen: set[tuple[int, int]] = set()

    def where_am_i() -> None:
        tid = threading.get_native_id()
        seen.add((tid, os.getpriority(os.PRIO_PROCESS, tid)))

    hashed = await asyncio.gather(*(users.hash_password(f"password number {n}") for n in range(3)))
    for _ in range(3):
        await asyncio.get_running_loop().run_in_executor(users._HASHING, where_am_i)

    assert len(set(hashed)) == 3
    assert len(seen) == 1  # one thread does all the hashing
    [(_, niceness)] = seen
    assert niceness == 19


def test_outside_the_tests_passwords_are_hashed_with_argon2_cffis_defaults() -> None:
    """The suite hashes with cheap parameters (tests/conftest.py); a fresh interpreter, as
    production starts, keeps argon2-cffi's defaults, RFC 9106's low-memory profile, and
    every hash it makes says so."""
    probe = (
        "import asyncio, json\n"
        "from screen.accounts import users\n"
        "h = users._hasher\n"
        "made = asyncio.run(users.hash_password('a long enough password'))\n"
        "print(json.dumps([h.type.name, h.time_cost, h.memory_cost, h.parallelism, made]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )

    kind, time_cost, memory_cost, parallelism, made = json.loads(done.stdout)
    low_memory = profiles.RFC_9106_LOW_MEMORY
    assert (kind, time_cost, memory_cost, parallelism) == (
        low_memory.type.name,
        low_memory.time_cost,
        low_memory.memory_cost,
        low_memory.parallelism,
    )
    assert (time_cost, memory_cost, parallelism) == (3, 65536, 4)  # 64 MiB, as documented
    assert made.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PasswordHasher().verify(made, "a long enough password")


@pytest.fixture
def production_hasher() -> Iterator[None]:
    """argon2 with its production parameters (~100 ms a hash) for this test only."""
    cheap = users._hasher
    users.use_password_hasher(PasswordHasher())
    yield
    users.use_password_hasher(cheap)


async def test_the_hashing_thread_rests_as_long_as_each_hash_took(
    production_hasher: None,
) -> None:
    """Pacing: after each hash the thread rests as long as the hash took, so a burst of
    sign-ins holds at most half a core. Real hashes, so the rests are long enough to see."""
    spans: list[tuple[float, float]] = []

    def timed_hash(password: str) -> str:
        started = time.monotonic()
        made = users._hasher.hash(password)
        spans.append((started, time.monotonic()))
        return made

    await users.hash_password("the pacer starts rested")  # an earlier test's rest is over
    await asyncio.sleep(0.5)
    await asyncio.gather(*(users._hashing(partial(timed_hash, f"burst {n}")) for n in range(4)))

    assert len(spans) == 4
    took = [end - start for start, end in spans]
    rested = [next_start - end for (_, end), (next_start, _) in itertools.pairwise(spans)]
    assert min(took) > 0.01, took  # production parameters: milliseconds at the very least
    for hashing, resting in zip(took, rested, strict=False):
        # The pacer times a little more than the hash itself, so it rests at least as long.
        assert resting >= hashing - 0.001, (took, rested)


async def test_password_checks_past_the_queue_are_refused_at_once_not_queued() -> None:
    """Password hashing is paced; beyond a short queue a check is refused at once (the
    sign-in page answers 429 "try again in a few seconds") instead of waiting."""
    # The count does not depend on how long a hash takes: every check of the burst takes
    # or is refused its place in the queue before the hashing thread can finish one.
    hashed = await users.hash_password("a long enough password")
    burst = users.MAX_WAITING_HASHES + 4

    outcomes = await asyncio.gather(
        *(users.verify_password(hashed, "a long enough password") for _ in range(burst)),
        return_exceptions=True,
    )

    refused = [o for o in outcomes if isinstance(o, users.HashingBusyError)]
    assert len(refused) == 4
    assert all(o is True for o in outcomes if not isinstance(o, BaseException))
    assert refused[0].status_code == 429
    assert "Too many sign-ins at once" in refused[0].message
    assert users._waiting_hashes == 0  # every place in the queue was given back
