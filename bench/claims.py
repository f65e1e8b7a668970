"""Review claims: a reviewer's click on "Review next" under 32 concurrent reviewers, over
HTTP, against a minimal handler doing the raw SKIP LOCKED claim on the same HTTP stack.

The queue is seeded fast (COPY) with what the app writes for submitted attempts: an
invitation, a submitted attempt and two open review slots each, on a real screen of the
shipped library (no calibration gate), plus 32 reviewer accounts with sessions.

* Our figure: claims/s of `POST /review/next` on `screen serve` (session cookie, CSRF, the
  redirect), 32 keep-alive connections, one reviewer each, counted in the database.
* Baseline, same run: `POST /claim` of `bench.baseline_app`, served the same way: the
  textbook single statement `UPDATE reviews … WHERE id = (SELECT id … ORDER BY due_at,
  queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id` on asyncpg, then the same
  redirect (`reviewer_id` left NULL: the textbook statement has no per-reviewer exclusion).
* Double claims: a reviewer twice on one attempt after the HTTP runs; and in the
  function-level diagnostic, a slot handed to two claims (ids returned twice) and claims
  the database does not show as claimed.
* Scale: the queue is grown to 1,000,000 waiting slots and the click's median latency
  (wrk's p50, same load) compared with the 10k queue's.
* Diagnostics, not targets: claims/s of the function `claim_for_reviewer` in one process
  (32 concurrent reviewers, request-like sessions on the app's engine) against the raw
  statement loop on 32 asyncpg connections, and the app's own claim statement on those
  raw connections.

Each HTTP run lasts at most `HTTP_SECONDS`, so the 10k queue is not drained by either
server (a drained queue would understate the faster one; the JSON says if it happened).

Targets: ratio ≥ 0.5; 0 double claims; median click at 1M ≤ 1.5 × at 10k.
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
from sqlalchemy.pool import AsyncAdaptedQueuePool

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
    baseline: procs.Server | None = None

    def close(self) -> None:
        self.app.stop()
        if self.baseline is not None:
            self.baseline.stop()

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
        fixture.baseline = procs.start_baseline(env.dsn, env.workdir)
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

        pool = engine.pool
        assert isinstance(pool, AsyncAdaptedQueuePool)
        await asyncio.gather(*(hold() for _ in range(pool.size())))

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
        reviews._CLAIM_PG.bindparams(*reviews._TIMES).compile(dialect=asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]
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


HTTP_SECONDS = 4.0


async def _claimed(env: Env) -> int:
    conn = await connect(env)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM reviews WHERE status='claimed'"))
    finally:
        await conn.close()


def _http_claims(
    env: Env, fixture: ClaimsFixture, baseline: bool, seconds: float
) -> dict[str, Any]:
    """`POST /review/next` on the real server (or `POST /claim` on the baseline app) for
    `seconds`, claims counted in the database (wrk sees only the redirects)."""
    if baseline:
        assert fixture.baseline is not None
        server = fixture.baseline
        connections = [Connection("/claim") for _ in fixture.reviewers]
    else:
        server = fixture.app
        csrf = csrf_token(fixture.app)
        connections = [
            Connection(
                "/review/next",
                headers={
                    "Cookie": f"screen_session={token}; screen_csrf={csrf}",
                    "X-CSRFToken": csrf,
                },
            )
            for _, token in fixture.reviewers
        ]
    spec = LoadSpec("POST", connections, seconds, body="", expect=(303,))
    before = run_async(_claimed(env))
    result, cpu = env.load(server, spec)
    count = run_async(_claimed(env)) - before
    waiting = fixture.attempts * SLOTS_PER_ATTEMPT
    return {
        "claims": count,
        "claims_per_s": count / result.seconds if result.seconds else 0.0,
        "requests": result.requests,
        "failures": result.failures,
        "statuses": result.statuses,
        "p50_ms": result.latency_ms["p50"],
        "p99_ms": result.latency_ms["p99"],
        "server_cpu_share": round(cpu, 3),
        "server_cpu_ms_per_claim": round(cpu * result.seconds * 1000 / count, 3) if count else None,
        "queue_drained": count >= waiting - len(connections),
    }


def _function_run(env: Env, limit: int) -> dict[str, Any]:
    """The function-level diagnostics: claim_for_reviewer in one process, the raw loop, the
    app's statement on raw connections; with the double-claim check of returned ids."""
    run_async(_reset(env))
    real = run_async(_real(env, limit))
    double = run_async(_double_claims(env, real))
    run_async(_reset(env))
    base = run_async(_baseline(env, limit))
    run_async(_reset(env))
    statement = run_async(_app_statement_raw(env, limit))
    return {
        "claim_next": {
            "claims": real.claims,
            "seconds": real.seconds,
            "claims_per_s": real.rate,
            "median_ms": real.median_ms,
        },
        "raw_loop": {"claims": base.claims, "claims_per_s": base.rate},
        "statement_raw": {"claims": statement.claims, "claims_per_s": statement.rate},
        "double_claims": double,
        "missing": (limit - real.claims) + (limit - base.claims),
    }


def run(env: Env) -> Result:
    fixture = env.fixture(NAME, _build)
    small = env.sizes.claim_slots
    limit = min(env.sizes.claims_per_run, small // 2)
    seconds = min(env.sizes.duration, HTTP_SECONDS)
    if env.sizes.warmup:
        for baseline in (False, True):
            run_async(_reset(env))
            _http_claims(env, fixture, baseline, env.sizes.warmup)
    rates, base_rates, doubles, small_p50, errors = [], [], [], [], 0
    runs: list[dict[str, Any]] = []
    for index in range(env.runs):
        run_async(_reset(env))
        http = _http_claims(env, fixture, False, seconds)
        double = run_async(_double_claims(env, Drained(0, 0.0, [], [])))
        run_async(_reset(env))
        base = _http_claims(env, fixture, True, seconds)
        diagnostic = _function_run(env, limit)
        errors += http["failures"] + base["failures"] + diagnostic["missing"]
        doubles.append(sum(double.values()) + sum(diagnostic["double_claims"].values()))
        rates.append(http["claims_per_s"])
        base_rates.append(base["claims_per_s"])
        small_p50.append(http["p50_ms"])
        env.log(
            f"  run {index + 1}: POST /review/next {http['claims_per_s']:,.0f}/s "
            f"(p50 {http['p50_ms']:.1f} ms, {http['server_cpu_ms_per_claim']} ms CPU each), "
            f"baseline POST /claim {base['claims_per_s']:,.0f}/s "
            f"({base['server_cpu_ms_per_claim']} ms CPU each); claim_next "
            f"{diagnostic['claim_next']['claims_per_s']:,.0f}/s, raw loop "
            f"{diagnostic['raw_loop']['claims_per_s']:,.0f}/s"
        )
        runs.append(
            {
                "http_review_next": http,
                "http_baseline": base,
                "double_claims_http": double,
                "function": diagnostic,
            }
        )
    large = env.sizes.claim_slots_large
    env.log(f"  growing the queue to {large:,} waiting slots")
    grow_started = time.monotonic()
    fixture.grow(large)
    grow_seconds = time.monotonic() - grow_started
    large_p50, large_rates = [], []
    for index in range(env.runs):
        run_async(_reset(env))
        http = _http_claims(env, fixture, False, seconds)
        double = run_async(_double_claims(env, Drained(0, 0.0, [], [])))
        doubles[index] += sum(double.values())
        errors += http["failures"]
        large_p50.append(http["p50_ms"])
        large_rates.append(http["claims_per_s"])
        runs[index]["http_review_next_large"] = {**http, "double_claims": double}
        env.log(
            f"  run {index + 1} at {large:,}: POST /review/next {http['claims_per_s']:,.0f}/s "
            f"(p50 {http['p50_ms']:.1f} ms)"
        )
    run_async(_reset(env))
    function_rates = [r["function"]["claim_next"]["claims_per_s"] for r in runs]
    loop_rates = [r["function"]["raw_loop"]["claims_per_s"] for r in runs]
    statement_rates = [r["function"]["statement_raw"]["claims_per_s"] for r in runs]
    notes = [
        f"POST /review/next at {large:,} waiting: median "
        f"{statistics.median(large_rates):,.0f} claims/s",
        "diagnostic, not a target: claim_for_reviewer as a function, 32 reviewers in one "
        f"process, {Stat.of(function_rates).median:,.0f} claims/s against the raw loop's "
        f"{Stat.of(loop_rates).median:,.0f} ({paired_ratios(function_rates, loop_rates).median:.2f}"
        f" ×); the app's claim statement on the raw connections "
        f"{Stat.of(statement_rates).median:,.0f} claims/s "
        f"({paired_ratios(statement_rates, loop_rates).median:.2f} ×)",
    ]
    if any(
        r["http_review_next"]["queue_drained"] or r["http_baseline"]["queue_drained"] for r in runs
    ):
        notes.append("an HTTP run drained the whole queue: its claims/s is a lower bound")
    return Result(
        name=NAME,
        title=(
            f"claims/s of POST /review/next over HTTP, {REVIEWERS} reviewers, "
            f"{small:,} waiting slots, {seconds:g} s a run"
        ),
        unit="claims/s",
        figure=Stat.of(rates),
        figure_label="POST /review/next",
        baseline=Stat.of(base_rates),
        baseline_label="raw SKIP LOCKED handler",
        checks=[
            Check("ratio", paired_ratios(rates, base_rates), ">=", 0.5),
            Check("double claims", Stat.of(doubles), "==", 0),
            Check(
                f"median click {large // 1000:,}k÷{small // 1000:,}k"
                if small >= 1000
                else f"median click {large:,}÷{small:,}",
                paired_ratios(large_p50, small_p50),
                "<=",
                1.5,
            ),
        ],
        errors=errors,
        details={
            "reviewers": REVIEWERS,
            "waiting_slots": small,
            "waiting_slots_large": large,
            "http_seconds": seconds,
            "claims_per_run_function": limit,
            "median_click_ms": Stat.of(small_p50).to_json(),
            "median_click_ms_large": Stat.of(large_p50).to_json(),
            "seconds_to_grow_queue": round(grow_seconds, 1),
            "runs": runs,
        },
        notes=notes,
    )


if __name__ == "__main__":
    from bench.runner import main

    main(["--scenario", NAME])
