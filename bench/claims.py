"""Review claims: "review next" under 32 concurrent reviewers, against a raw SKIP LOCKED loop.

The queue is seeded fast (COPY) with what the app writes for submitted attempts: an
invitation, a submitted attempt and two open review slots each, on a real screen of the
shipped library (no calibration gate), plus 32 reviewer accounts with sessions.

* Our figure: claims/s of `screen.review.reviews.claim_for_reviewer` — what `POST /review/next`
  runs — with 32 concurrent reviewers in one process, each claim inside a request-like
  session on the app's own engine and pool (`screen.db.create_engine` defaults), as the
  handler does. The first 4,000 claims of
  10,000 waiting slots are timed.
* Baseline, same run: the textbook single statement `UPDATE reviews … WHERE id = (SELECT id
  … ORDER BY due_at, queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id` in a loop
  on 32 raw asyncpg connections (`reviewer_id` left NULL: the textbook statement has no
  per-reviewer exclusion, so setting it would trip the one-reviewer-per-attempt key).
* Double claims: a slot handed to two claims (ids returned twice), and claims the
  database does not show as claimed.
* Scale: the queue is grown to 1,000,000 waiting slots and the median time of one claim
  (begin to commit, under the same 32-reviewer load) compared with the 10k queue's.
* Also shown, not a target: claims/s of `POST /review/next` over HTTP on `screen serve`
  (session cookie, CSRF, the redirect), counted in the database.

Targets: ratio ≥ 0.5; 0 double claims; median claim at 1M ≤ 1.5 × at 10k.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench import procs
from bench.harness import (
    SUBMITTED_ATTEMPT_COLUMNS,
    Env,
    add_staff,
    connect,
    copy_rows,
    csrf_token,
    library_screen,
    run_async,
    sync_sequences,
)
from bench.load import Connection, LoadSpec
from bench.report import Check, Result, Stat, paired_ratios

NAME = "review_claim"
REVIEWERS = 32
SLOTS_PER_ATTEMPT = 2
COPY_BATCH = 50_000
BASELINE_CLAIM = """
    UPDATE reviews SET status = 'claimed', claimed_at = now(),
           lease_expires_at = now() + interval '30 minutes'
    WHERE id = (SELECT id FROM reviews WHERE status = 'open'
                ORDER BY due_at, queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING id
"""


@dataclass
class ClaimsFixture:
    env: Env
    screen_id: int
    prompt_slug: str
    reviewers: list[tuple[int, str]]
    attempts: int  # seeded so far
    app: procs.Server

    def close(self) -> None:
        self.app.stop()

    def grow(self, slots: int) -> None:
        """Add waiting slots until `slots` are waiting."""
        wanted = slots // SLOTS_PER_ATTEMPT
        if wanted > self.attempts:
            run_async(_add_waiting(self.env, self, self.attempts + 1, wanted - self.attempts))
            self.attempts = wanted


async def _add_waiting(env: Env, fixture: ClaimsFixture, first: int, count: int) -> None:
    now = datetime.now(UTC)
    conn = await connect(env)
    try:
        # Each invitation records the prompt it drew; a screen without a pool gives its own.
        prompt_id = await conn.fetchval(
            "SELECT prompt_id FROM screens WHERE id = $1", fixture.screen_id
        )
        for start in range(first, first + count, COPY_BATCH):
            ids = range(start, min(first + count, start + COPY_BATCH))
            await copy_rows(
                conn,
                "invitations",
                (
                    "id",
                    "screen_id",
                    "prompt_id",
                    "candidate_name",
                    "candidate_email",
                    "token_hash",
                    "accommodation",
                    "created_at",
                    "expires_at",
                ),
                (
                    (
                        i,
                        fixture.screen_id,
                        prompt_id,
                        f"Candidate {i}",
                        f"c{i}@bench.example.com",
                        f"{i:064x}",
                        1.0,
                        now - timedelta(days=1),
                        now + timedelta(days=6),
                    )
                    for i in ids
                ),
            )
            await copy_rows(
                conn,
                "attempts",
                SUBMITTED_ATTEMPT_COLUMNS,
                (
                    (
                        i,
                        i,
                        "submitted",
                        now - timedelta(hours=2),
                        now - timedelta(hours=1, minutes=15),
                        5,
                        "An answer.",
                        "An answer.",
                        now - timedelta(hours=1, minutes=20),
                        "candidate",
                        now - timedelta(hours=1, minutes=20),
                    )
                    for i in ids
                ),
            )
            # Due dates spread over the queue, as SLAs of candidates invited at different
            # times are; both slots of an attempt are due together.
            await copy_rows(
                conn,
                "reviews",
                (
                    "attempt_id",
                    "slot",
                    "status",
                    "due_at",
                    "queued_at",
                    "prompt_slug",
                    "screen_id",
                ),
                (
                    (
                        i,
                        slot,
                        "open",
                        now + timedelta(seconds=i),
                        now - timedelta(hours=1, minutes=20),
                        fixture.prompt_slug,
                        fixture.screen_id,
                    )
                    for i in ids
                    for slot in range(1, SLOTS_PER_ATTEMPT + 1)
                ),
            )
        await sync_sequences(conn, ("invitations", "attempts", "reviews"))
        await conn.execute("VACUUM ANALYZE invitations, attempts, reviews")
    finally:
        await conn.close()


def _build(env: Env) -> ClaimsFixture:
    async def seed() -> tuple[int, str, list[tuple[int, str]]]:
        screen_id, slug, _ = await library_screen(env, "Bench queue", reviews_required=2)
        reviewers = await add_staff(env, "reviewer", REVIEWERS, "reviewer")
        return screen_id, slug, reviewers

    screen_id, slug, reviewers = run_async(seed())
    app = procs.start_app(env.app_env(), env.workdir)
    fixture = ClaimsFixture(env, screen_id, slug, reviewers, 0, app)
    try:
        env.log(f"  seeding {env.sizes.claim_slots:,} waiting slots")
        fixture.grow(env.sizes.claim_slots)
    except BaseException:
        fixture.close()
        raise
    return fixture


async def _reset(env: Env) -> None:
    """Every slot waiting again, dead rows vacuumed: each run starts from the same queue."""
    conn = await connect(env)
    try:
        await conn.execute(
            "UPDATE reviews SET status = 'open', reviewer_id = NULL, claimed_at = NULL, "
            "lease_expires_at = NULL WHERE status <> 'open'"
        )
        await conn.execute("UPDATE attempts SET state = 'submitted' WHERE state = 'in_review'")
        await conn.execute("VACUUM ANALYZE reviews, attempts")
    finally:
        await conn.close()


@dataclass
class Drained:
    claims: int
    seconds: float
    latencies_ms: list[float]
    ids: list[int]

    @property
    def rate(self) -> float:
        return self.claims / self.seconds if self.seconds else 0.0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


async def _drain(limit: int, workers: list[Any], claim: Any) -> Drained:
    """`limit` claims shared by the workers, each looping claim after claim."""
    taken = {"n": 0}
    latencies: list[float] = []
    ids: list[int] = []

    async def loop(worker: Any) -> None:
        while taken["n"] < limit:
            taken["n"] += 1
            started = time.perf_counter()
            claimed = await claim(worker)
            latencies.append((time.perf_counter() - started) * 1000)
            if claimed is None:
                taken["n"] -= 1
                return
            ids.append(claimed)

    started = time.perf_counter()
    await asyncio.gather(*(loop(worker) for worker in workers))
    return Drained(len(ids), time.perf_counter() - started, latencies, ids)


async def _real(env: Env, limit: int) -> Drained:
    from sqlalchemy import select, text

    from screen.platform.db import create_engine, create_sessionmaker
    from screen.platform.models import Role, User
    from screen.review import reviews

    engine = create_engine(env.database_url)
    maker = create_sessionmaker(engine)
    try:
        async with maker() as db:
            users = list(await db.scalars(select(User).where(User.holding(Role.REVIEWER))))

        async def hold() -> None:  # open the pool's connections before timing
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                await asyncio.sleep(0.05)

        await asyncio.gather(*(hold() for _ in range(engine.pool.size())))

        async def claim(user: User) -> int | None:
            # What POST /review/next does: the request's session, then the claim.
            async with maker() as db, db.begin():
                return await reviews.claim_for_reviewer(engine, db, user.id, datetime.now(UTC))

        return await _drain(limit, users, claim)
    finally:
        await engine.dispose()


async def _baseline(env: Env, limit: int) -> Drained:
    pool = await asyncpg.create_pool(env.dsn, min_size=REVIEWERS, max_size=REVIEWERS)
    try:
        connections = [await pool.acquire() for _ in range(REVIEWERS)]

        async def claim(conn: asyncpg.Connection) -> int | None:
            value = await conn.fetchval(BASELINE_CLAIM)
            return None if value is None else int(value)

        drained = await _drain(limit, connections, claim)
        for conn in connections:
            await pool.release(conn)
        return drained
    finally:
        await pool.close()


async def _app_statement_raw(env: Env, limit: int) -> Drained:
    """The app's own claim statement, reviewer exclusions and all, on 32 raw asyncpg
    connections like the baseline's: how much of the gap is the statement (the product's
    rules) and how much the Python around it."""
    from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

    from screen.review import reviews

    sql = str(
        reviews._CLAIM_PG.bindparams(*reviews._TIMES).compile(dialect=asyncpg_dialect.dialect())
    )
    pool = await asyncpg.create_pool(env.dsn, min_size=REVIEWERS, max_size=REVIEWERS)
    try:
        reviewer_ids = [
            int(r[0])
            for r in await pool.fetch("SELECT user_id FROM user_roles WHERE role = 'reviewer'")
        ]
        connections = [await pool.acquire() for _ in reviewer_ids]

        async def claim(pair: tuple[asyncpg.Connection, int]) -> int | None:
            conn, reviewer = pair
            now = datetime.now(UTC)
            row = await conn.fetchrow(sql, reviewer, now, now + reviews.LEASE)
            return None if row is None else int(row[0])

        drained = await _drain(limit, list(zip(connections, reviewer_ids, strict=True)), claim)
        for conn in connections:
            await pool.release(conn)
        return drained
    finally:
        await pool.close()


async def _double_claims(env: Env, drained: Drained) -> dict[str, int]:
    conn = await connect(env)
    try:
        claimed_rows = await conn.fetchval("SELECT count(*) FROM reviews WHERE status = 'claimed'")
        pairs = await conn.fetchval(
            "SELECT count(*) FROM (SELECT attempt_id, reviewer_id FROM reviews "
            "WHERE reviewer_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d"
        )
    finally:
        await conn.close()
    repeated = sum(n - 1 for n in Counter(drained.ids).values() if n > 1)
    return {
        "ids_returned_twice": repeated,
        "claims_not_in_database": max(0, drained.claims - int(claimed_rows)),
        "reviewer_twice_on_attempt": int(pairs),
    }


def _http_claims(env: Env, fixture: ClaimsFixture) -> dict[str, Any]:
    """POST /review/next on the real server for the run's duration, claims counted in the
    database (wrk sees only the redirects)."""

    async def claimed() -> int:
        conn = await connect(env)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM reviews WHERE status='claimed'"))
        finally:
            await conn.close()

    csrf = csrf_token(fixture.app)
    connections = [
        Connection(
            "/review/next",
            headers={"Cookie": f"screen_session={token}; screen_csrf={csrf}", "X-CSRFToken": csrf},
        )
        for _, token in fixture.reviewers
    ]
    spec = LoadSpec("POST", connections, env.sizes.duration, body="", expect=(303,))
    before = run_async(claimed())
    result, cpu = env.load(fixture.app, spec)
    count = run_async(claimed()) - before
    waiting = fixture.attempts * SLOTS_PER_ATTEMPT
    return {
        "claims": count,
        "claims_per_s": count / result.seconds if result.seconds else 0.0,
        "requests": result.requests,
        "failures": result.failures,
        "statuses": result.statuses,
        "p99_ms": result.latency_ms["p99"],
        "server_cpu_share": round(cpu, 3),
        "queue_drained": count >= waiting,
    }


def run(env: Env) -> Result:
    fixture = env.fixture(NAME, _build)
    small = env.sizes.claim_slots
    limit = min(env.sizes.claims_per_run, small // 2)
    real_rates, base_rates, doubles, small_medians, errors = [], [], [], [], 0
    statement_rates: list[float] = []
    runs: list[dict[str, Any]] = []
    for index in range(env.runs):
        run_async(_reset(env))
        real = run_async(_real(env, limit))
        double = run_async(_double_claims(env, real))
        run_async(_reset(env))
        base = run_async(_baseline(env, limit))
        run_async(_reset(env))
        statement = run_async(_app_statement_raw(env, limit))
        statement_rates.append(statement.rate)
        run_async(_reset(env))
        http = _http_claims(env, fixture)
        errors += http["failures"] + (limit - real.claims) + (limit - base.claims)
        env.log(
            f"  run {index + 1}: claim_next {real.rate:,.0f}/s (median {real.median_ms:.1f} ms), "
            f"raw SKIP LOCKED {base.rate:,.0f}/s, POST /review/next {http['claims_per_s']:,.0f}/s"
        )
        real_rates.append(real.rate)
        base_rates.append(base.rate)
        doubles.append(sum(double.values()))
        small_medians.append(real.median_ms)
        runs.append(
            {
                "claim_next": {
                    "claims": real.claims,
                    "seconds": real.seconds,
                    "claims_per_s": real.rate,
                    "median_ms": real.median_ms,
                },
                "baseline": {
                    "claims": base.claims,
                    "seconds": base.seconds,
                    "claims_per_s": base.rate,
                    "median_ms": base.median_ms,
                },
                "double_claims": double,
                "http_review_next": http,
            }
        )
    large = env.sizes.claim_slots_large
    env.log(f"  growing the queue to {large:,} waiting slots")
    grow_started = time.monotonic()
    fixture.grow(large)
    grow_seconds = time.monotonic() - grow_started
    large_medians, large_rates = [], []
    for index in range(env.runs):
        run_async(_reset(env))
        real = run_async(_real(env, limit))
        double = run_async(_double_claims(env, real))
        doubles[index] += sum(double.values())
        errors += limit - real.claims
        large_medians.append(real.median_ms)
        large_rates.append(real.rate)
        runs[index]["claim_next_large"] = {
            "claims": real.claims,
            "claims_per_s": real.rate,
            "median_ms": real.median_ms,
            "double_claims": double,
        }
        env.log(
            f"  run {index + 1} at {large:,}: claim_next {real.rate:,.0f}/s "
            f"(median {real.median_ms:.1f} ms)"
        )
    run_async(_reset(env))
    http_rates = [r["http_review_next"]["claims_per_s"] for r in runs]
    notes = [
        f"POST /review/next over HTTP (not a target): median {statistics.median(http_rates):,.0f} "
        f"claims/s; claim_next at {large:,} waiting: median "
        f"{statistics.median(large_rates):,.0f} claims/s"
    ]
    notes.append(
        "the app's claim statement alone on 32 raw asyncpg connections (not a target): "
        f"{Stat.of(statement_rates).median:,.0f} claims/s, "
        f"{paired_ratios(statement_rates, base_rates).median:.2f} × the baseline: the rest "
        "of the gap is the Python around it (pool checkout, the request's session)"
    )
    if any(r["http_review_next"]["queue_drained"] for r in runs):
        notes.append("the HTTP run drained the whole queue: its claims/s is a lower bound")
    return Result(
        name=NAME,
        title=(
            f"claims/s of claim_next, {REVIEWERS} concurrent reviewers, "
            f"{small:,} waiting slots, {limit:,} claims a run"
        ),
        unit="claims/s",
        figure=Stat.of(real_rates),
        figure_label="claim_next",
        baseline=Stat.of(base_rates),
        baseline_label="raw SKIP LOCKED",
        checks=[
            Check("ratio", paired_ratios(real_rates, base_rates), ">=", 0.5),
            Check("double claims", Stat.of(doubles), "==", 0),
            Check(
                f"median claim {large // 1000:,}k÷{small // 1000:,}k"
                if small >= 1000
                else f"median claim {large:,}÷{small:,}",
                paired_ratios(large_medians, small_medians),
                "<=",
                1.5,
            ),
        ],
        errors=errors,
        details={
            "reviewers": REVIEWERS,
            "waiting_slots": small,
            "waiting_slots_large": large,
            "claims_per_run": limit,
            "median_claim_ms": Stat.of(small_medians).to_json(),
            "median_claim_ms_large": Stat.of(large_medians).to_json(),
            "seconds_to_grow_queue": round(grow_seconds, 1),
            "runs": runs,
        },
        notes=notes,
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
